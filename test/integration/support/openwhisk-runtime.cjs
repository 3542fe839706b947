// Apache OpenWhisk's Node.js runtime (openwhisk-runtime-nodejs, kind nodejs:20) initialising
// a zip action, for the tests and the benchmark: what its /init does with the message
// {code, binary, main, env} (core/nodejsActionBase/src/service.js doInit, runner.js
// initializeActionHandler and extractInTmpDir), without the HTTP server around it:
//   - each init-time parameter (`env`) is exported to process.env (objects as JSON);
//   - the base64 code must start with a zip's magic bytes; it is written as action.zip into a
//     new directory made by `mktemp -d XXXXXXXX` in the working directory, and unpacked by
//     `unzip -qq` into another such directory;
//   - the process chdirs there; with a `main` without a dot, a zip with neither package.json
//     nor index.js is refused, and `require(<directory>)[main]` must be a function (a
//     `module.fn` main requires <directory>/module instead).
// Plain-code actions are not modelled: the project deploys zip actions only.
'use strict';
const { exec } = require('node:child_process');
const { existsSync, writeFileSync } = require('node:fs');
const { join, resolve } = require('node:path');

// The action's main function, once the runtime would have answered the /init.
async function initializeZipAction(message) {
  for (const [key, value] of Object.entries(message.env ?? {})) {
    process.env[key] = typeof value !== 'object' || value === null ? (value ? String(value) : '') : JSON.stringify(value);
  }
  if (message.binary !== true) throw new Error('not a zip action (binary is not true)');
  if (Buffer.from(message.code, 'base64').subarray(0, 4).toString('hex') !== '504b0304') {
    throw new Error('There was an error uncompressing the action archive. The file type is unsupported');
  }
  const archive = join(await shell('mktemp -d XXXXXXXX'), 'action.zip');
  writeFileSync(archive, message.code, 'base64');
  const moduleDir = resolve(await shell('mktemp -d XXXXXXXX'));
  await shell(`unzip -qq ${archive} -d ${moduleDir}`);
  const parts = /^([^.]+)$|^([^.]+)\.(.+)$/.exec(message.main);
  if (parts === null) throw new Error('Name of main function is not valid.');
  const [index, main] = [parts[2], parts[3] ?? parts[1]];
  process.chdir(moduleDir);
  if (index === undefined && !existsSync('package.json') && !existsSync('index.js')) {
    throw new Error('Zipped actions must contain either package.json or index.js at the root.');
  }
  const handler = require(index === undefined ? moduleDir : join(moduleDir, index))[main];
  if (typeof handler !== 'function') throw new Error(`Action entrypoint '${message.main}' is not a function.`);
  return handler;
}

// A shell command's trimmed stdout, as runner.js runs mktemp and unzip.
function shell(command) {
  return new Promise((resolvePromise, reject) => {
    exec(command, (error, stdout, stderr) => (error ? reject(new Error(stderr.trim() || error.message)) : resolvePromise(stdout.trim())));
  });
}

module.exports = { initializeZipAction };
