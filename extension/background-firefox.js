// Firefox's background page: it stays loaded and may run wasm, so the judge lives right here
// (Firefox has no offscreen documents).
import { startHub } from "./hub.js";
import { Judge } from "./judge.js";

const judge = new Judge();
startHub((method, ...args) => judge[method](...args));
