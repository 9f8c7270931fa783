// Sign a SessionHub join token in your own Node backend, with the server's JOIN_TOKEN_SECRET.
// Usage: JOIN_TOKEN_SECRET=... SESSION_ID=... [NAME=Ada] [USER_ID=u-42] [ROLE=viewer] \
//        [TTL_SECONDS=3600] node sign-token.mjs
// Prints the token; the browser then sends `join_session {session_id, token}`.
import jwt from "jsonwebtoken";

const { JOIN_TOKEN_SECRET, SESSION_ID, USER_ID } = process.env;
const name = process.env.NAME || "Guest";
const role = process.env.ROLE || "editor";
const ttlSeconds = Number(process.env.TTL_SECONDS || 3600);
if (!JOIN_TOKEN_SECRET || !SESSION_ID || !Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
  console.error("sign-token.mjs needs JOIN_TOKEN_SECRET, SESSION_ID and a whole TTL_SECONDS >= 1");
  process.exit(2);
}

const now = Math.floor(Date.now() / 1000);
const claims = {
  aud: "sessionhub", // required: tokens meant for anything else are refused
  session_id: SESSION_ID, // the one session this token lets its bearer join
  role, // "editor" may change the document; "viewer" may only read it
  name, // what the others in the session see (a name the client sends is ignored)
  ...(USER_ID ? { sub: USER_ID } : {}), // optional: the user's id in your app
  iat: now,
  exp: now + ttlSeconds, // required; the server allows no clock leeway
};

// HS256 is the only algorithm SessionHub accepts.
console.log(jwt.sign(claims, JOIN_TOKEN_SECRET, { algorithm: "HS256" }));
