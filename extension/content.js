// Veil's content script, in every frame from document_start: hides every candidate image before
// the page can paint it, asks the extension to judge it, then shows it or applies the user's
// effect. Posts whose text mentions a keyword are blurred too. All state is kept in data
// attributes that one injected style sheet turns into visibility, so the page never sees a
// flagged image unblurred, even for the one frame between insertion and judgement.
(() => {
  const STATE = "data-veil-state"; // pending | shown | flagged | revealed
  const POST = "data-veil-post"; // hidden | revealed
  const REASON = "data-veil-reason";
  const CANDIDATES = 'img, video[poster], [style*="url("]';
  const POSTS = 'article, [role="article"]';
  // Icons, avatars, spacers: too small to spoil anything, and too many to be worth judging.
  const MIN_SIDE = 40;
  const BATCH = 12;
  // Two batches in flight: the extension fetches one batch's images while the network judges
  // the other's, instead of the network waiting on the download between batches.
  const BATCHES_IN_FLIGHT = 2;
  const WATCHED_ATTRIBUTES = ["src", "srcset", "style", "poster", STATE, POST];
  // How long the first batch waits for the extension's cold start (wasm, packs, first kernels)
  // before its own judging timeout starts: a slow machine needs more than one batch's time for it.
  const STARTUP_LIMIT_MS = 120_000;

  const unjudged = `:not([${STATE}=shown]):not([${STATE}=revealed]):not([${STATE}=flagged])`;
  const styleText = (effect) => `
    img${unjudged}, video[poster]${unjudged}, [style*="url("]${unjudged} { visibility: hidden !important; }
    [${STATE}=flagged] { ${effect === "hide"
      ? "visibility: hidden !important;"
      : "visibility: visible !important; filter: blur(32px) grayscale(0.5) !important; cursor: pointer !important;"} }
    [${POST}=hidden] { filter: blur(10px) !important; cursor: pointer !important; user-select: none !important; }`;

  // Until the hub answers (and for ever if it never does) the page fails closed: every candidate
  // hidden, anything that cannot be judged in time covered. The user's settings replace this.
  let settings = { enabled: true, effect: "blur", failClosed: true, timeoutMs: 20000, disabledSites: [] };
  const styles = new Map(); // root (document or shadow root) -> our <style>
  const expected = new WeakMap(); // element -> the state we set, to undo a page's rewrites
  const urlOf = new WeakMap(); // element -> the image URL it was judged for
  const verdicts = new Map(); // url -> verdict
  const waiting = new Map(); // url -> Set<element>
  const nearScreen = new Set(); // urls of pending elements on or near the screen
  const everNear = new Set(); // urls of elements that have been on or near the screen
  const revealed = new Set(); // urls the user revealed in this page
  const judging = new Set(); // urls of the batches in flight
  let inFlight = 0;
  // Bumped when the settings or labels change: a batch asked before then answers for the old ones.
  let generation = 0;
  let judgeReady = null;

  // ---- the style sheet, in the document and in every shadow root ----------------------------
  const active = () => settings.enabled && !settings.disabledSites.includes(location.hostname);
  function ensureStyle(root) {
    let style = styles.get(root);
    if (!style) {
      style = document.createElement("style");
      style.setAttribute("data-veil", "");
      styles.set(root, style);
    }
    style.textContent = active() ? styleText(settings.effect) : "";
    const parent = root === document ? document.documentElement : root;
    if (parent && !style.isConnected) parent.append(style);
  }

  // ---- finding images ----------------------------------------------------------------------
  function imageUrl(element) {
    if (element instanceof HTMLImageElement) return element.currentSrc || element.src;
    if (element instanceof HTMLVideoElement) return element.poster;
    const match = /url\(\s*(['"]?)(.*?)\1\s*\)/.exec(element.style.backgroundImage || element.style.background || "");
    if (!match) return "";
    try {
      return new URL(match[2], element.baseURI).href;
    } catch {
      return "";
    }
  }

  function shadowRootOf(element) {
    try {
      return element.shadowRoot ?? globalThis.chrome?.dom?.openOrClosedShadowRoot?.(element) ?? element.openOrClosedShadowRoot?.() ?? null;
    } catch {
      return null;
    }
  }

  function setState(element, state) {
    expected.set(element, state);
    if (element.getAttribute(STATE) !== state) element.setAttribute(STATE, state);
  }

  function consider(element, rejudge = false) {
    const url = imageUrl(element);
    if (!url) {
      // An <img> without a source yet stays hidden until it gets one; anything else is not an image.
      if (!(element instanceof HTMLImageElement)) setState(element, "shown");
      return;
    }
    if (!rejudge && urlOf.get(element) === url && expected.has(element)) return;
    urlOf.set(element, url);
    const small = element instanceof HTMLImageElement && element.complete && element.naturalWidth > 0 &&
      (element.naturalWidth < MIN_SIDE || element.naturalHeight < MIN_SIDE);
    if (small) return setState(element, "shown");
    if (verdicts.has(url)) return apply(element, url, verdicts.get(url));
    // A re-judgement keeps showing what is shown: re-hiding the whole page would flash.
    if (!rejudge || !expected.has(element)) setState(element, "pending");
    if (!waiting.has(url)) waiting.set(url, new Set());
    waiting.get(url).add(element);
    visibility.observe(element);
    // The browser loads a lazy image a little before it comes near the screen: that, too, makes
    // it one to judge (see `wanted`).
    if (element instanceof HTMLImageElement && element.loading === "lazy" && !element.complete) {
      element.addEventListener("load", scheduleJudging, { once: true });
      element.addEventListener("error", scheduleJudging, { once: true });
    }
    scheduleJudging();
  }

  function apply(element, url, verdict) {
    const failed = Boolean(verdict.error);
    const flagged = verdict.flagged || (failed && settings.failClosed);
    if (!flagged) return setState(element, "shown");
    setState(element, revealed.has(url) ? "revealed" : "flagged");
    const reason = failed ? `Veil could not check this image (${verdict.error})` : `Veil: ${verdict.reason} — click to reveal`;
    element.setAttribute(REASON, reason);
    if (!element.hasAttribute("title")) element.setAttribute("title", reason);
    reportCount();
  }

  // ---- judging, nearest the screen first, a batch at a time ----------------------------------
  const visibility = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        const url = urlOf.get(entry.target);
        if (!entry.isIntersecting || !waiting.has(url)) continue;
        nearScreen.add(url);
        everNear.add(url);
      }
      scheduleJudging();
    },
    { rootMargin: "100% 0px" },
  );

  function scheduleJudging() {
    if (inFlight < BATCHES_IN_FLIGHT && waiting.size > judging.size && active()) queueMicrotask(judgeNextBatch);
  }

  async function judgeNextBatch() {
    const urls = [...new Set([...nearScreen, ...waiting.keys()])]
      .filter((url) => waiting.has(url) && !judging.has(url) && wanted(url))
      .slice(0, BATCH);
    if (inFlight >= BATCHES_IN_FLIGHT || !urls.length) return;
    inFlight++;
    const asked = generation;
    urls.forEach((url) => (nearScreen.delete(url), judging.add(url)));
    // The next batch's images download while this one is judged.
    scheduleJudging();
    judgeReady ??= Promise.race([ask("ready", {}).catch(() => {}), delay(STARTUP_LIMIT_MS)]);
    await judgeReady;
    const answer = await Promise.race([
      Promise.all(urls.map(fromPageCache)).then((bodies) => ask("judge", { urls, bodies })).catch((error) => ({ error })),
      delay(settings.timeoutMs),
    ]);
    for (const url of urls) {
      judging.delete(url);
      // Its answer is stale: the url stays waiting and goes into a later batch.
      if (asked !== generation) {
        if (everNear.has(url)) nearScreen.add(url);
        continue;
      }
      const verdict = answer === null ? { error: "judging took too long" }
        : answer.error ? { error: String(answer.error.message ?? answer.error) } : answer[url];
      if (!verdict.error) verdicts.set(url, verdict);
      for (const element of waiting.get(url) ?? []) {
        visibility.unobserve(element);
        if (urlOf.get(element) === url) apply(element, url, verdict);
      }
      waiting.delete(url);
      everNear.delete(url);
    }
    inFlight--;
    scheduleJudging();
  }

  // A lazy image the browser has not loaded is one the page may never download: Veil fetches it
  // only once it comes near the screen or the browser has loaded it, so that it makes no request
  // the page does not. It stays hidden until then, like every unjudged image.
  function wanted(url) {
    if (everNear.has(url)) return true;
    return [...waiting.get(url)].some((e) => !(e instanceof HTMLImageElement && e.loading === "lazy" && !e.complete));
  }

  // A same-origin image is read from the page's own HTTP cache, where the page's load left it:
  // the extension's fetch, from its own document, uses another cache partition and would
  // download it a second time. `{type, dataUrl}`, or null where the extension must fetch it
  // (another origin, or this read failed: the extension's fetch then says why).
  async function fromPageCache(url) {
    try {
      // `self.origin`, not `location.origin`: a srcdoc frame has the page's origin but no URL of its own.
      if (new URL(url).origin !== self.origin) return null;
      const response = await fetch(url, { cache: "force-cache", credentials: "include" });
      if (!response.ok) return null;
      const blob = await response.blob();
      // Past judge.js's 32 MB limit the extension refuses it with the size anyway.
      if (blob.size > 32 * 1024 * 1024) return null;
      const dataUrl = await new Promise((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result);
        reader.onerror = () => reject(reader.error);
        reader.readAsDataURL(blob);
      });
      return { type: response.headers.get("content-type") ?? "", dataUrl };
    } catch {
      return null;
    }
  }

  const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms, null));

  async function ask(type, payload) {
    const reply = await chrome.runtime.sendMessage({ type, ...payload });
    if (!reply || reply.failure) throw new Error(reply?.failure ?? "the extension did not answer");
    return reply.value;
  }

  // ---- keyword posts -------------------------------------------------------------------------
  const postsToCheck = new Set();
  let postTimer = null;
  function considerPost(post) {
    postsToCheck.add(post);
    postTimer ??= setTimeout(checkPosts, 0);
  }

  // Text nodes joined by spaces: textContent would run "friend_42" and "Game of…" from two
  // paragraphs into one word, and innerText would force a layout on every check.
  function postText(post) {
    const walker = document.createTreeWalker(post, NodeFilter.SHOW_TEXT);
    const texts = [];
    while (walker.nextNode()) texts.push(walker.currentNode.nodeValue);
    const attributes = [...post.querySelectorAll("img[alt], [title], [aria-label]")]
      .map((e) => [e.getAttribute("alt"), e.getAttribute("aria-label"), e.getAttribute(REASON) ? "" : e.getAttribute("title")].join(" "));
    return [...texts, ...attributes].join(" ");
  }

  async function checkPosts() {
    postTimer = null;
    const posts = [...postsToCheck].filter((post) => post.isConnected && post.getAttribute(POST) !== "revealed");
    postsToCheck.clear();
    if (!posts.length) return;
    let found;
    try {
      found = await ask("findKeywords", { texts: posts.map(postText) });
    } catch {
      return; // the extension is being updated or removed: leave the page as it is
    }
    posts.forEach((post, i) => {
      if (found[i]) {
        post.setAttribute(POST, "hidden");
        post.setAttribute(REASON, `Veil: mentions “${found[i]}” — click to show`);
      } else if (post.getAttribute(POST) === "hidden") {
        post.removeAttribute(POST);
      }
    });
    reportCount();
  }

  // ---- watching the page -----------------------------------------------------------------------
  function scan(node) {
    if (!(node instanceof Element)) return;
    const elements = [node, ...node.querySelectorAll("*")];
    for (const element of elements) {
      if (element.matches(CANDIDATES)) consider(element);
      if (element.matches(POSTS)) considerPost(element);
      const shadow = shadowRootOf(element);
      if (shadow && !styles.has(shadow)) watch(shadow);
    }
    const post = node.parentElement?.closest(POSTS);
    if (post) considerPost(post);
  }

  function onMutations(records) {
    for (const record of records) {
      if (record.type === "childList") {
        record.addedNodes.forEach(scan);
        // The page removed our style sheet (replaced <head>, say): put it back.
        for (const removed of record.removedNodes) if ([...styles.values()].includes(removed)) ensureStyle(record.target.getRootNode());
        if (record.target instanceof Element && record.addedNodes.length) {
          const post = record.target.closest(POSTS);
          if (post) considerPost(post);
        }
      } else if (record.type === "characterData") {
        const post = record.target.parentElement?.closest(POSTS);
        if (post) considerPost(post);
      } else if (record.attributeName === STATE || record.attributeName === POST) {
        // The page rewrote our marks (a framework re-rendering attributes): put them back.
        const element = record.target;
        if (record.attributeName === STATE && expected.has(element) && element.getAttribute(STATE) !== expected.get(element)) {
          element.setAttribute(STATE, expected.get(element));
        }
      } else if (record.target.matches(CANDIDATES)) {
        consider(record.target);
      }
    }
  }

  function watch(root) {
    ensureStyle(root);
    new MutationObserver(onMutations).observe(root, {
      childList: true, subtree: true, attributes: true, characterData: true, attributeFilter: WATCHED_ATTRIBUTES,
    });
    if (root !== document) root.querySelectorAll("*").forEach((e) => scan(e));
    root.addEventListener("click", onClick, true);
    root.addEventListener("load", onLoad, true);
  }

  // A lazy image gets its final source (srcset choice) and its size only when it loads.
  function onLoad(event) {
    if (event.target instanceof HTMLImageElement) {
      const url = imageUrl(event.target);
      if (urlOf.get(event.target) !== url || event.target.naturalWidth < MIN_SIDE || event.target.naturalHeight < MIN_SIDE) {
        expected.delete(event.target);
        consider(event.target);
      }
    }
  }

  // First click on a covered image or post reveals it (and does not follow a link under it).
  function onClick(event) {
    const target = event.composedPath().find((e) => e instanceof Element && (e.getAttribute(STATE) === "flagged" || e.getAttribute(POST) === "hidden"));
    if (!target || !active()) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    if (target.getAttribute(POST) === "hidden") {
      target.setAttribute(POST, "revealed");
    } else {
      const url = urlOf.get(target);
      revealed.add(url);
      setState(target, "revealed");
      // On this page only: peeking at a spoiler says nothing about whether it is one.
      ask("revealed", {}).catch(() => {});
    }
    reportCount();
  }

  let countTimer = null;
  function reportCount() {
    clearTimeout(countTimer);
    countTimer = setTimeout(() => {
      let hidden = 0;
      for (const root of styles.keys()) hidden += root.querySelectorAll(`[${STATE}=flagged], [${POST}=hidden]`).length;
      ask("hiddenCount", { hidden }).catch(() => {});
    }, 200);
  }

  // ---- settings: applied to the open page without a reload ------------------------------------
  async function loadSettings() {
    try {
      settings = await ask("settings", {});
    } catch {
      return;
    }
    for (const root of styles.keys()) ensureStyle(root);
  }

  function rejudgeAll() {
    generation++;
    verdicts.clear();
    for (const root of styles.keys()) {
      root.querySelectorAll(CANDIDATES).forEach((element) => consider(element, true));
      root.querySelectorAll(POSTS).forEach(considerPost);
    }
  }

  // The hub says when the user changed the settings or labelled an image.
  chrome.runtime.onMessage.addListener((message) => {
    if (message?.type === "settingsChanged") loadSettings().then(rejudgeAll);
    else if (message?.type === "relabel") rejudgeAll();
    else if (message?.type === "labelResult") notice(message.message);
  });

  // What became of a label the user asked for from the context menu, said on the page for a
  // few seconds (a status message, so screen readers say it too).
  let noticeElement = null;
  function notice(text) {
    noticeElement?.remove();
    noticeElement = Object.assign(document.createElement("div"), { textContent: text });
    noticeElement.setAttribute("role", "status");
    noticeElement.setAttribute("data-veil-notice", "");
    // Through the CSSOM, which a page's style-src policy does not block.
    Object.assign(noticeElement.style, {
      position: "fixed", bottom: "16px", left: "50%", transform: "translateX(-50%)", zIndex: "2147483647",
      background: "#222", color: "#fff", font: "14px/1.4 system-ui, sans-serif", padding: "8px 14px", borderRadius: "6px",
    });
    document.documentElement.append(noticeElement);
    const shown = noticeElement;
    setTimeout(() => shown.remove(), 6000);
  }

  function start() {
    watch(document);
    scan(document.documentElement);
    loadSettings();
  }
  if (document.documentElement) start();
  else new MutationObserver((_, observer) => document.documentElement && (observer.disconnect(), start())).observe(document, { childList: true });
})();
