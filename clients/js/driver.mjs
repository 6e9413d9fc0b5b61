// Drives matrix-js-sdk against `refresh-conformance serve` (client mode), following the contract in
// the README: log in with refresh_token: true as the given user, make authenticated requests until
// the time is up, then log out. Everything about refreshing is left to the library; this driver
// only supplies what the library asks its embedder for (tokenRefreshFunction) and logs in again
// when the library reports the session logged out.
//
// Environment: MRC_HOMESERVER, MRC_USER (localpart), MRC_PASSWORD, MRC_DURATION_S.
// Tokens and the password are never printed.

import {
    createClient,
    HttpApiEvent,
    MatrixError,
    TokenRefreshLogoutError,
} from "matrix-js-sdk";

const homeserver = process.env.MRC_HOMESERVER;
const user = process.env.MRC_USER;
const password = process.env.MRC_PASSWORD;
const durationMs = 1000 * Number(process.env.MRC_DURATION_S ?? "60");
if (!homeserver || !user || !password) {
    console.error("driver: set MRC_HOMESERVER, MRC_USER and MRC_PASSWORD");
    process.exit(2);
}

const quiet = {
    trace() {}, debug() {}, info() {}, log() {}, warn() {}, error() {},
    getChild() { return quiet; },
};
const log = (message) => console.log(`driver[matrix-js-sdk]: ${message}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The library asks its embedder for this function; it must use raw fetch (client.refreshToken()
// re-enters the library's own refresh logic). A MatrixError or TokenRefreshLogoutError means
// logged out to the library; any other error is transient.
async function tokenRefreshFunction(refreshToken) {
    const response = await fetch(`${homeserver}/_matrix/client/v3/refresh`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: refreshToken }),
    });
    const body = await response.json().catch(() => ({}));
    if (response.status >= 400 && response.status < 500) {
        throw new TokenRefreshLogoutError(new MatrixError(body, response.status));
    }
    if (!response.ok) {
        throw new Error(`refresh answered ${response.status}`);
    }
    return {
        accessToken: body.access_token,
        refreshToken: body.refresh_token ?? refreshToken,
        expiry: body.expires_in_ms === undefined ? undefined : new Date(Date.now() + body.expires_in_ms),
    };
}

async function login() {
    const anonymous = createClient({ baseUrl: homeserver, logger: quiet });
    // loginRequest sends the body as given: loginWithPassword would not ask for a refresh token.
    const response = await anonymous.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user },
        password,
        refresh_token: true,
    });
    const client = createClient({
        baseUrl: homeserver,
        userId: response.user_id,
        deviceId: response.device_id,
        accessToken: response.access_token,
        refreshToken: response.refresh_token,
        tokenRefreshFunction,
        logger: quiet,
    });
    const session = { client, loggedOut: false };
    client.on(HttpApiEvent.SessionLoggedOut, () => {
        session.loggedOut = true;
    });
    log(`logged in (refresh token ${response.refresh_token ? "received" : "not received"})`);
    return session;
}

const deadline = Date.now() + durationMs;
let session = null;
let requests = 0;
let failures = 0;
while (Date.now() < deadline) {
    try {
        if (session === null || session.loggedOut) {
            if (session?.loggedOut) log("the library reported the session logged out; logging in again");
            session = await login();
        }
        await session.client.whoami();
        requests += 1;
    } catch (error) {
        failures += 1;
        if (failures <= 20) log(`request failed: ${error.name}: ${error.errcode ?? error.message ?? ""}`);
    }
    await sleep(250);
}
if (session !== null && !session.loggedOut) {
    try {
        await session.client.logout(true);
        log("logged out");
    } catch (error) {
        log(`logout failed: ${error.name}`);
    }
}
log(`done: ${requests} successful requests, ${failures} failed`);
