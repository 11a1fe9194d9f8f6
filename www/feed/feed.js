// The demo feed: renders posts.json a page at a time (infinite scroll), each image shown in one
// of the ways real feeds use. `?cdn=<origin>/feed/` serves the "cross-origin" posts from a second
// origin. It also misbehaves the way real pages do: it throws.
const PAGE = 20;
const params = new URLSearchParams(location.search);
const cdn = params.get("cdn");
const { posts } = await (await fetch("posts.json")).json();
const feed = document.getElementById("feed");
let next = 0;

class FeedCard extends HTMLElement {
  connectedCallback() {
    if (this.shadowRoot || this.dataset.mounted) return;
    this.dataset.mounted = "1";
    const root = this.attachShadow({ mode: "open" });
    const img = document.createElement("img");
    img.src = this.getAttribute("src");
    img.alt = "";
    img.style.cssText = "display:block;width:100%;aspect-ratio:4/3;object-fit:cover";
    root.append(img);
  }
}
customElements.define("feed-card", FeedCard);

function image(post) {
  const src = post.image;
  switch (post.kind) {
    case "lazy":
      return html(`<img loading="lazy" src="${src}" alt="">`);
    case "srcset":
      return html(`<img srcset="${src} 480w, ${src} 960w" sizes="(max-width: 600px) 100vw, 560px" src="${src}" alt="">`);
    case "picture":
      return html(`<picture><source srcset="${src}" type="image/jpeg"><img src="${src}" alt=""></picture>`);
    case "background":
      return html(`<div class="background" role="img" style="background-image: url('${src}')"></div>`);
    case "shadow":
      return html(`<feed-card src="${src}"></feed-card>`);
    case "poster":
      return html(`<video poster="${src}" controls preload="none"></video>`);
    case "iframe":
      return html(`<iframe srcdoc="<style>body{margin:0}img{width:100%}</style><img src='${new URL(src, location.href).href}' alt=''>" title="embedded post"></iframe>`);
    case "cross-origin":
      return html(`<img src="${cdn ? new URL(src, cdn).href : src}" alt="">`);
    default:
      return html(`<img src="${src}" alt="">`);
  }
}

function html(markup) {
  const template = document.createElement("template");
  template.innerHTML = markup;
  return template.content;
}

function render(post) {
  const article = document.createElement("article");
  article.id = post.id;
  const author = html(`<p><img class="avatar" src="avatar.svg" alt="" width="32" height="32"><b>friend_${post.id}</b></p>`);
  const caption = document.createElement("p");
  caption.textContent = post.caption;
  article.append(author, ...(post.image ? [image(post)] : []), caption);
  return article;
}

function renderMore() {
  const slice = posts.slice(next, next + PAGE);
  feed.append(...slice.map(render));
  next += slice.length;
  if (next >= posts.length) {
    document.getElementById("more").textContent = "You're all caught up.";
    document.body.dataset.complete = "true";
  }
}

// More posts come when the marker at the end nears the viewport. It moves towards the viewport
// only when the page scrolls, the feed above it shrinks (a picture that fails to load, a card
// re-laid out) or the window grows, so it is checked on each of those, and in the frame after
// each page is added (the new posts may still leave the marker in view). A shrinking feed fires
// no scroll event when the page is already at its end: checking on scroll alone, the feed stopped
// loading in CI at its end, with the marker in view and the page still painting (as it did with
// an IntersectionObserver before).
const more = document.getElementById("more");
function loadIfNear() {
  if (next >= posts.length || more.getBoundingClientRect().top > innerHeight + 400) return;
  renderMore();
  requestAnimationFrame(loadIfNear);
}
addEventListener("scroll", loadIfNear, { passive: true });
addEventListener("resize", loadIfNear);
// In the next frame, not in the observer's callback: adding posts resizes what it observes.
new ResizeObserver(() => requestAnimationFrame(loadIfNear)).observe(feed);
renderMore();
requestAnimationFrame(loadIfNear);

// A page bug, as real pages have: it must not stop the extension.
setTimeout(() => {
  throw new Error("demo feed: an uncaught error, on purpose");
}, 50);
