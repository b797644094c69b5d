// The duplicates view: each group with its thumbnails; "not a duplicate" and "representative"
// verdicts go to the decisions journal. Data is set with textContent only.
"use strict";
async function post(path, body) {
  const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

async function load() {
  const response = await fetch("/api/groups?limit=50", { headers });
  const page = await response.json();
  document.getElementById("status").textContent = `${page.total} groups`;
  const box = document.getElementById("groups");
  box.replaceChildren();
  for (const g of page.groups) {
    const section = el("div", "", "group");
    section.dataset.groupId = g.group_id;
    section.append(el("h2", `group ${g.group_id} (${g.members.length} posts)`));
    const rep = g.members.find((m) => m.representative);
    for (const m of g.members) {
      const figure = el("figure", "", "member");
      figure.dataset.postId = m.post_id;
      if (m.has_image) {
        const img = el("img"); img.alt = `post ${m.post_id}`; img.width = 160;
        img.src = imageUrl(m.post_id);
        figure.append(img);
      }
      const caption = el("figcaption", `post ${m.post_id}${m.representative ? " (representative)" : ""}`);
      if (m.not_duplicate) caption.append(el("strong", " marked: not a duplicate"));
      if (m.chosen) caption.append(el("strong", " chosen as representative"));
      figure.append(caption);
      if (!m.representative) {
        const apart = el("button", "not a duplicate", "not-duplicate");
        apart.onclick = async () => { await post("/api/not-duplicate", { post_id: m.post_id, other: rep.post_id }); load(); };
        const chosen = el("button", "make representative", "make-representative");
        chosen.onclick = async () => { await post("/api/representative", { post_id: m.post_id }); load(); };
        figure.append(apart, chosen);
      }
      section.append(figure);
    }
    box.append(section);
  }
}

load();
