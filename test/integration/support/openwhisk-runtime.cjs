// Apache OpenWhisk's Node.js runtime (openwhisk-runtime-nodejs, kind nodejs:20) initialising
// a plain-code action, for the tests and the benchmark: what its /init does with the message
// {code, binary, main, env} (core/nodejsActionBase/src/service.js doInit and runner.js
// initializeActionHandler), without the HTTP server around it:
//   - each init-time parameter (`env`) is exported to process.env (objects as JSON);
//   - with binary false, the code is evaluated by a direct `eval` in this module's scope (as
//     runner.js evaluates it in its own: `require`, `module` and `exports` are the runtime's)
//     inside the function wrapper below, word for word runner.js's, which returns `main`
//     (or, when no such binding exists, module.exports'/exports' property of that name), and
//     that must be a function.
// Zip actions (binary true: unpacked by `mktemp` and `unzip` in the working directory) are not
// modelled: `trustgate deploy openwhisk` sends plain code only. Like runner.js, this module is
// not in strict mode: the evaluated code is sloppy unless it says otherwise.

// A promise of the action's main function, once the runtime would have answered the /init.
function initializeAction(message) {
  for (const [key, value] of Object.entries(message.env ?? {})) {
    process.env[key] = typeof value !== 'object' || value === null ? (value ? String(value) : '') : JSON.stringify(value);
  }
  if (message.binary) return Promise.reject(new Error('zip actions are not modelled (binary is true)'));
  try {
    return evaluateCode(message);
  } catch (error) {
    return Promise.reject(error);
  }
}

// runner.js initializeActionHandler's plain-code branch.
function evaluateCode(message) {
  // runner.js's wrapper, spaces included (they shift the columns of the code's first line).
  const handler = eval(
    `(function(){
               ${message.code}
               try {
                 return ${message.main}
               } catch (e) {
                 if (e.name === 'ReferenceError') {
                    return module.exports.${message.main} || exports.${message.main}
                 } else throw e
               }
           })()`);
  if (typeof handler !== 'function') return Promise.reject(new Error(`Action entrypoint '${message.main}' is not a function.`));
  return Promise.resolve(handler);
}

module.exports = { initializeAction };
