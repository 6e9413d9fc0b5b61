//! The one colour policy: `--color`, then `NO_COLOR`, then whether stdout is a terminal. Both our output
//! (through `colored`) and libtest-mimic's follow it.

use std::io::IsTerminal;

use libtest_mimic::ColorSetting;

/// Decides once and applies the decision to `colored`; returns it for the libtest side.
pub fn apply(setting: Option<ColorSetting>) -> ColorSetting {
    let enabled = match setting {
        Some(ColorSetting::Always) => true,
        Some(ColorSetting::Never) => false,
        Some(ColorSetting::Auto) | None => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
            !no_color && !dumb && std::io::stdout().is_terminal()
        }
    };
    colored::control::set_override(enabled);
    if enabled {
        ColorSetting::Always
    } else {
        ColorSetting::Never
    }
}
