import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "data/", "dist/", "coverage/", "bench/results/", "public/vendor/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-require-imports": "off",
    },
  },
  {
    files: ["public/**/*.js"],
    languageOptions: { globals: { window: "readonly", document: "readonly", fetch: "readonly", localStorage: "readonly", console: "readonly", customElements: "readonly", HTMLElement: "readonly", CustomEvent: "readonly", setTimeout: "readonly", clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly", location: "readonly", history: "readonly", navigator: "readonly", URL: "readonly", URLSearchParams: "readonly", Intl: "readonly", requestAnimationFrame: "readonly", io: "readonly", Event: "readonly", KeyboardEvent: "readonly", Blob: "readonly", atob: "readonly", btoa: "readonly", FormData: "readonly", AbortController: "readonly", WebSocket: "readonly", performance: "readonly", alert: "readonly", confirm: "readonly", getComputedStyle: "readonly", matchMedia: "readonly", sessionStorage: "readonly", DOMParser: "readonly", SVGElement: "readonly", Element: "readonly", Node: "readonly", MutationObserver: "readonly", ResizeObserver: "readonly", IntersectionObserver: "readonly", BarcodeDetector: "readonly", TextEncoder: "readonly", TextDecoder: "readonly", crypto: "readonly" } },
  },
  {
    files: ["**/*.js", "**/*.cjs"],
    ignores: ["public/**"],
    languageOptions: { globals: { module: "writable", require: "readonly", process: "readonly", __dirname: "readonly", console: "readonly" } },
  },
);
