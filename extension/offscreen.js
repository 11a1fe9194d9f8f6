// Chrome only: the offscreen document hosts the Judge and answers the service worker.
import { Judge } from "./judge.js";

const judge = new Judge();
chrome.runtime.onMessage.addListener((message, _sender, respond) => {
  if (message?.target !== "offscreen") return false;
  judge[message.method](...message.args).then(respond, (error) => respond({ failure: String(error?.message ?? error) }));
  return true;
});
