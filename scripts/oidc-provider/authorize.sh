#!/usr/bin/env bash
# The --oauth-authorize command for scripts/oidc-provider.sh's server: completes the login and consent of
# oidc-provider's development pages (devInteractions) with curl, as a user would in a browser, and prints
# the URL the browser was finally redirected to (the client's redirect URI with code and state). For the
# device authorisation grant (MRC_OAUTH_GRANT=device_code) it first submits the user code on the
# verification page, then logs in and consents the same way, and exits 0 on the success page.
#
#   refresh-conformance --oauth-issuer http://127.0.0.1:8201 \
#       --oauth-authorize scripts/oidc-provider/authorize.sh
#
# Input (environment, set by the suite): MRC_OAUTH_GRANT; for authorization_code MRC_OAUTH_AUTHORIZATION_URL
# and MRC_OAUTH_REDIRECT_URI; for device_code MRC_OAUTH_USER_CODE and MRC_OAUTH_VERIFICATION_URI. OIDC_LOGIN,
# the account to log in as (default "conformance"; any password works on the development pages).
# The login and consent pages keep their state in cookies only, so one cookie jar is enough; the user-code
# page has an xsrf field, read from the page. The final redirect is never followed: nothing listens at the
# redirect URI.
set -euo pipefail

grant=${MRC_OAUTH_GRANT:-authorization_code}
login=${OIDC_LOGIN:-conformance}
jar=$(mktemp)
trap 'rm -f "$jar"' EXIT

# One request; prints where the server redirects to (empty if it does not redirect).
hop() {
    curl -sS --max-time 10 -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$@"
}

if [[ $grant == device_code ]]; then
    : "${MRC_OAUTH_USER_CODE:?set by the suite}" "${MRC_OAUTH_VERIFICATION_URI:?set by the suite}"
    # The user-code page, then its form submitted with the code and the confirmation at once.
    xsrf=$(curl -sS --max-time 10 -c "$jar" -b "$jar" "$MRC_OAUTH_VERIFICATION_URI" |
        sed -n 's/.*name="xsrf" value="\([^"]*\)".*/\1/p' | head -n 1)
    [[ -n $xsrf ]] || { echo "authorize.sh: no xsrf field on the verification page" >&2; exit 1; }
    location=$(hop -X POST --data-urlencode "xsrf=$xsrf" --data-urlencode "user_code=$MRC_OAUTH_USER_CODE" \
        --data-urlencode confirm=yes "$MRC_OAUTH_VERIFICATION_URI")
    # No redirect back to the client in this flow: patterns that match no URL.
    redirect_prefix=unused
    redirect_host_path=unused
else
    : "${MRC_OAUTH_AUTHORIZATION_URL:?set by the suite}" "${MRC_OAUTH_REDIRECT_URI:?set by the suite}"
    # The redirect URI has no port (a native client's loopback URI); the server may answer with one.
    redirect_prefix=${MRC_OAUTH_REDIRECT_URI%%\?*}
    redirect_host_path=${redirect_prefix#http://127.0.0.1}
    location=$(hop "$MRC_OAUTH_AUTHORIZATION_URL")
fi

for _ in 1 2 3 4 5 6 7 8; do
    case $location in
        "$redirect_prefix"\?* | http://127.0.0.1:*"$redirect_host_path"\?*)
            printf '%s\n' "$location"
            exit 0
            ;;
        */device/*)
            # The device flow resumes here after each interaction; the last one shows the success page.
            page=$(curl -sS --max-time 10 -c "$jar" -b "$jar" -w '\nredirect:%{redirect_url}' "$location")
            location=${page##*$'\n'redirect:}
            if [[ -z $location ]]; then
                if grep -q 'Sign-in Success' <<<"$page"; then
                    echo "approved"
                    exit 0
                fi
                echo "authorize.sh: the device flow ended without its success page" >&2
                exit 1
            fi
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
