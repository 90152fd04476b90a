// MathJax reads this before it loads (pymdownx.arithmatex "generic" output: \( \) and \[ \]).
// The fonts come from the vendored copy beside tex-chtml.js, never a CDN.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};
