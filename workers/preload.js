// wamc preload: runs first in every document of the page, before WhatsApp Web's own scripts and
// before wa-js (workers/browser.py adds it, then wa-js, then bridge.js). Ours.
(() => {
  // `__wamcEmit(name, data)`: what bridge.js calls. The raw CDP binding takes one string; it is
  // taken off the page's reach here, and the JSON functions are the ones from before the page ran.
  // What arrives is still untrusted (any script can call __wamcEmit): the worker checks it.
  const raw = globalThis.__wamcBinding;
  if (typeof raw === 'function') {
    delete globalThis.__wamcBinding;
    const stringify = JSON.stringify;
    const TEXT_MAX = 16 * 1024 * 1024; // characters: the worker drops longer calls anyway
    const emit = (name, data) => {
      let text;
      try {
        text = stringify([name, data === undefined ? null : data]);
      } catch (e) {
        text = ''; // a cycle, a BigInt, a throwing getter: the worker counts it as malformed
      }
      raw(typeof text === 'string' && text.length <= TEXT_MAX ? text : '');
      return Promise.resolve();
    };
    Object.defineProperty(globalThis, '__wamcEmit', { value: emit, writable: false, configurable: false });
  }
  // No service worker: it would answer WhatsApp's requests out of the worker's sight.
  if (globalThis.ServiceWorkerContainer) {
    ServiceWorkerContainer.prototype.register = async () => {
      throw new Error('service workers are disabled');
    };
  }
  globalThis.WPPConfig = Object.assign({ disableGoogleAnalytics: true }, globalThis.WPPConfig || {});
})();
