// Paper is white: whatever palette the reader chose on screen, print the light one, and put theirs back afterwards.
// Material keeps the choice in two places: the scheme on <body>, and a <meta name="color-scheme"> that makes
// Chromium paint the page's margins dark. mkdocs_hooks.py copies this file into the built site (assets/print/).
(function () {
  let chosen = null;
  const meta = () => document.querySelector('meta[name="color-scheme"]');
  window.addEventListener("beforeprint", function () {
    chosen = {scheme: document.body.getAttribute("data-md-color-scheme"), meta: meta() && meta().content};
    document.body.setAttribute("data-md-color-scheme", "default");
    if (meta()) meta().content = "light";
  });
  window.addEventListener("afterprint", function () {
    if (chosen === null) return;
    document.body.setAttribute("data-md-color-scheme", chosen.scheme);
    if (meta() && chosen.meta !== null) meta().content = chosen.meta;
    chosen = null;
  });
})();
