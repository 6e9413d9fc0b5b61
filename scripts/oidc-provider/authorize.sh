#!/usr/bin/env bash
# The --oauth-authorize command for scripts/oidc-provider.sh's server: completes the login and consent of
# oidc-provider's development pages (devInteractions) with curl, as a user would in a browser, and prints
# the URL the browser was finally redirected to (the client's redirect URI with code and state).
#
#   refresh-conformance --oauth-issuer http://127.0.0.1:8201 \
#       --oauth-authorize scripts/oidc-provider/authorize.sh
#
# Input (environment): MRC_OAUTH_AUTHORIZATION_URL, MRC_OAUTH_REDIRECT_URI (set by the suite); OIDC_LOGIN,
# the account to log in as (default "conformance"; any password works on the development pages).
# The pages keep their state in cookies only (no CSRF token), so one cookie jar is enough. The final
# redirect is never followed: nothing listens at the redirect URI.
set -euo pipefail

: "${MRC_OAUTH_AUTHORIZATION_URL:?set by the suite}" "${MRC_OAUTH_REDIRECT_URI:?set by the suite}"
login=${OIDC_LOGIN:-conformance}
jar=$(mktemp)
trap 'rm -f "$jar"' EXIT

# One request; prints where the server redirects to (empty if it does not redirect).
hop() {
    curl -sS --max-time 10 -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$@"
}

# The redirect URI has no port (a native client's loopback URI); the server may answer with one.
redirect_prefix=${MRC_OAUTH_REDIRECT_URI%%\?*}
redirect_host_path=${redirect_prefix#http://127.0.0.1}

location=$(hop "$MRC_OAUTH_AUTHORIZATION_URL")
for _ in 1 2 3 4 5 6 7 8; do
    case $location in
        "$redirect_prefix"\?* | http://127.0.0.1:*"$redirect_host_path"\?*)
            printf '%s\n' "$location"
            exit 0
            ;;
        */interaction/*)
            page=$(curl -sS --max-time 10 -c "$jar" -b "$jar" "$location")
            if grep -q 'name="prompt" value="login"' <<<"$page"; then
                location=$(hop -X POST --data-urlencode prompt=login \
                    --data-urlencode "login=$login" --data-urlencode password=any "$location")
            elif grep -q 'name="prompt" value="consent"' <<<"$page"; then
                location=$(hop -X POST --data-urlencode prompt=consent "$location")
            else
                echo "authorize.sh: an interaction page with neither login nor consent form" >&2
                exit 1
            fi
            ;;
        */auth/*)
            location=$(hop "$location")
            ;;
        *)
            # Not the redirect URI: safe to show (it carries no code).
            echo "authorize.sh: unexpected redirect to ${location:-nowhere}" >&2
            exit 1
            ;;
    esac
done
echo "authorize.sh: no redirect back to the client after 8 steps" >&2
exit 1
