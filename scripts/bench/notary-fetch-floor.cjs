// The least a Node program can do to answer what a cold `trustgate verify` answers: start,
// connect to the trust server over TLS and fetch a repository's four Notary metadata files
// (root, timestamp, snapshot, targets) one after the other on that one connection, each
// parsed as JSON and nothing verified, stored or printed. `npm run bench` runs it next to
// `notary lookup` and `trustgate verify` (scripts/bench/bench.ts) to show how much of a cold
// verify any Node client pays. Not a test, not part of the product.
//   node notary-fetch-floor.cjs https|tls SERVER_URL GUN
// https: through node:https with a kept-alive agent, as the product's client does.
// tls: through node:tls alone, the requests written and the answers read by hand (HTTP/1.1,
//      Content-Length or chunked): what is left when not even node:http is loaded.
// The server's certificate is checked as usual (NODE_EXTRA_CA_CERTS names its CA). Exits 0
// once all four are read, 1 on anything else.
'use strict';

const ROLES = ['root', 'timestamp', 'snapshot', 'targets'];
const [mode, serverUrl, gun] = process.argv.slice(2);
if (!['https', 'tls'].includes(mode) || serverUrl === undefined || gun === undefined) {
  process.stderr.write('usage: node notary-fetch-floor.cjs https|tls SERVER_URL GUN\n');
  process.exit(2);
}
const server = new URL(serverUrl);
const pathOf = (role) => `/v2/${gun}/_trust/tuf/${role}.json`;
const fail = (error) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
};

if (mode === 'https') viaHttps().then(() => process.exit(0), fail);
else viaTls();

// Each file in turn through node:https, one kept-alive connection.
async function viaHttps() {
  const https = require('node:https');
  const agent = new https.Agent({ keepAlive: true });
  for (const role of ROLES) {
    const body = await new Promise((resolve, reject) => {
      const request = https.get(new URL(pathOf(role), server), { agent }, (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => (response.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`${role}: HTTP ${response.statusCode}`))));
        response.on('error', reject);
      });
      request.on('error', reject);
    });
    JSON.parse(body.toString('utf8'));
  }
}

// Each file in turn over one node:tls connection, HTTP/1.1 written and read here.
function viaTls() {
  const tls = require('node:tls');
  let index = 0;
  let pending = Buffer.alloc(0);
  const socket = tls.connect({ host: server.hostname, port: Number(server.port || 443) }, () => ask());
  const ask = () => socket.write(`GET ${pathOf(ROLES[index])} HTTP/1.1\r\nHost: ${server.host}\r\n\r\n`);
  socket.on('error', fail);
  socket.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    const answer = readAnswer(pending);
    if (answer === undefined) return;
    if (answer.status !== 200) fail(new Error(`${ROLES[index]}: HTTP ${answer.status}`));
    JSON.parse(answer.body.toString('utf8'));
    pending = pending.subarray(answer.end);
    index += 1;
    if (index === ROLES.length) process.exit(0);
    ask();
  });
}

// One whole HTTP/1.1 answer at the start of `bytes` (status, body and where it ends), or
// undefined while it is incomplete.
function readAnswer(bytes) {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const head = bytes.subarray(0, headEnd).toString('latin1');
  const status = Number(head.slice(9, 12));
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length !== null) {
    const end = headEnd + 4 + Number(length[1]);
    return bytes.length < end ? undefined : { status, body: bytes.subarray(headEnd + 4, end), end };
  }
  const parts = [];
  let at = headEnd + 4;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
    if (bytes.length < lineEnd + 2 + size + 2) return undefined;
    if (size === 0) return { status, body: Buffer.concat(parts), end: lineEnd + 4 };
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}
