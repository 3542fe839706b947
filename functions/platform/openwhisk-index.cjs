// The entry of each OpenWhisk zip action (written into the action's folder by the build).
// OpenWhisk's Node.js runtime evaluates `require(<unpacked folder>).main` at init and needs a
// function at once, but its Node 20 `require` cannot load ES modules: this CommonJS file
// starts importing the action (ES modules, split into chunks that load on first use) as soon
// as it is required, so the start-up code loads during the init, and each activation waits
// for it. The contract is the action's own: main(params) resolves to its answer.
'use strict';

const action = import('./action.mjs');
// A failed load must not end the runtime's process as an unhandled rejection: the activation
// that awaits it fails with the reason instead.
action.catch(() => {});

exports.main = async function main(params) {
  return (await action).main(params);
};
