// Shared by the review pages: the token, headers for the API, and an element maker that only
// ever sets text (tag names like <3 stay text).
"use strict";
const token = new URLSearchParams(location.search).get("token");
const headers = { "Content-Type": "application/json" };
if (token) headers["X-Curate-Token"] = token;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function imageUrl(postId) {
  return `/api/image/${postId}` + (token ? `?token=${encodeURIComponent(token)}` : "");
}
