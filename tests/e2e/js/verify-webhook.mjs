// Receive SessionHub webhooks in your own Node backend, verified with the server's WEBHOOK_SECRET.
// Usage: WEBHOOK_SECRET=whsec_... [HOST=127.0.0.1] [PORT=8000] node verify-webhook.mjs
// with WEBHOOK_URLS=http://<this host>:<port>/ on the SessionHub side (any path reaches it).
// Prints each event once, as a JSON line with its webhook-id.
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const { WEBHOOK_SECRET } = process.env;
const host = process.env.HOST || "127.0.0.1";
const port = Number(process.env.PORT || 8000);
if (!WEBHOOK_SECRET) {
  console.error("verify-webhook.mjs needs WEBHOOK_SECRET (whsec_...)");
  process.exit(2);
}

const webhook = new Webhook(WEBHOOK_SECRET);
const seen = new Set(); // webhook-ids already handled; keep them in your database in production

createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    let event;
    try {
      // Verify the bytes as received: a body parsed and serialised again no longer matches.
      event = webhook.verify(Buffer.concat(chunks), request.headers);
    } catch (error) {
      console.error(`refused: ${error.message}`);
      response.writeHead(400).end(); // SessionHub retries it; a forged request goes nowhere
      return;
    }
    const id = request.headers["webhook-id"];
    if (!seen.has(id)) {
      // Delivery is at least once: the same webhook-id can come again, handle it once.
      seen.add(id);
      console.log(JSON.stringify({ id, ...event }));
    }
    response.writeHead(204).end(); // any 2xx acknowledges it; answer fast, work later
  });
}).listen(port, host, () => console.log(`listening on http://${host}:${port}/`));
