// Paper is white: whatever palette the reader chose on screen (Material keeps it on <body>), print the light one,
// and put theirs back afterwards. mkdocs_hooks.py copies this file into the built site (assets/print/print.js).
(function () {
  let chosen = null;
  window.addEventListener("beforeprint", function () {
    chosen = document.body.getAttribute("data-md-color-scheme");
    document.body.setAttribute("data-md-color-scheme", "default");
  });
  window.addEventListener("afterprint", function () {
    if (chosen !== null) document.body.setAttribute("data-md-color-scheme", chosen);
    chosen = null;
  });
})();
