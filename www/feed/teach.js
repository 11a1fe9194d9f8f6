// The teach feed: every group of teach.json (one picture as it is, cropped, and halved as a
// JPEG; made by `cargo xtask`) as three posts.
const { groups } = await (await fetch("teach.json")).json();
const feed = document.getElementById("feed");
for (const group of groups) {
  group.images.forEach((src, i) => {
    const post = document.createElement("article");
    post.className = "post";
    post.id = `${group.id}-${i}`;
    post.dataset.group = group.id;
    const img = document.createElement("img");
    img.src = src;
    img.alt = "";
    post.append(img);
    feed.append(post);
  });
}
document.body.dataset.ready = "1";
