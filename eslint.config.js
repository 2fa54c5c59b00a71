// Lint for the page's JavaScript (browser), its unit tests and scripts (Node). Flat config.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["service/web/static/vendor/"] },  // copied from npm as published
  js.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: "module" },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "no-unused-vars": ["error", { argsIgnorePattern: "^_", caughtErrors: "none", ignoreRestSiblings: true }],
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-var": "error",
      "prefer-const": "error",
      "object-shorthand": "error",
      "no-implicit-coercion": ["error", { allow: ["!!"] }],
      "no-shadow": "error",
      "no-console": ["error", { allow: ["error", "warn"] }],
      "no-restricted-syntax": ["error", {
        selector: "ImportDeclaration[source.value=/^https?:/], ImportExpression[source.value=/^https?:/]",
        message: "Nothing is loaded from the network: vendor the library (npm run vendor) and map it in index.html.",
      }],
    },
  },
  { files: ["service/web/static/js/**/*.js"], languageOptions: { globals: globals.browser } },
  {
    files: ["tests/web/js/**/*.js", "service/web/scripts/**/*.js", "eslint.config.js"],
    languageOptions: { globals: globals.node },
    rules: { "no-console": "off" },
  },
];
