import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

const SDK = { group: ["@modelcontextprotocol/*"], message: "Import the MCP SDK only in src/mcp/." };
const ABOVE_SESSION = ["tools", "viewer", "mcp", "bench", "commands", "app", "cli"];

/** A layer's files may not import the folders (or top-level modules) named, nor the MCP SDK. */
function layer(files, forbidden) {
  const names = forbidden.join("|");
  return {
    files,
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            SDK,
            {
              regex: `^(\\.\\./)+(${names})(/|\\.js$)`,
              message: `This layer does not import ${forbidden.join(", ")} (docs/architecture.md, "Layers").`,
            },
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "runtime/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // Type-aware rules for the TypeScript covered by tsconfig.json: promises that are neither
    // awaited nor handled, and promises passed where a plain value or void callback is expected.
    // `project` (one program for tsconfig.json): not slower than `projectService` here, often faster.
    files: ["src/**/*.ts", "tests/**/*.ts", "lab/**/*.ts"],
    languageOptions: {
      parserOptions: { project: "./tsconfig.json", tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/await-thenable": "error",
    },
  },
  {
    files: ["src/**/*.ts"],
    rules: { "no-console": "error" },
  },
  {
    // The viewer's page script runs in the browser, as a classic script.
    files: ["src/viewer/assets/**/*.js"],
    languageOptions: { globals: { ...globals.browser }, sourceType: "script" },
  },
  {
    // Tests assert on raw terminal bytes.
    files: ["tests/**/*.ts"],
    rules: { "no-control-regex": "off" },
  },
  {
    // The MCP SDK is imported in src/mcp/ only, so an SDK upgrade touches one folder.
    files: ["src/**/*.ts"],
    ignores: ["src/mcp/**"],
    rules: { "no-restricted-imports": ["error", { patterns: [SDK] }] },
  },
  // The layers (docs/architecture.md, "Layers"): a folder imports only folders below it.
  layer(["src/config/**/*.ts", "src/transcript/**/*.ts"], ["security", "ssh", "session", ...ABOVE_SESSION]),
  layer(["src/security/**/*.ts", "src/ssh/**/*.ts"], ["session", ...ABOVE_SESSION]),
  layer(["src/session/**/*.ts"], ABOVE_SESSION),
  layer(["src/tools/**/*.ts"], ["viewer", "mcp", "bench", "commands"]),
  layer(["src/viewer/**/*.ts"], ["tools", "mcp", "bench", "commands"]),
  layer(["src/bench/**/*.ts"], ["commands"]),
  {
    // src/tmux/ is a tmux library that knows nothing of ssh-mcp (no session, no errors.ts, no
    // packages): it imports node builtins and its own modules only. Replaces the rule above there.
    files: ["src/tmux/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^(?!node:|\\./(?!.*\\.\\.))",
              message: "src/tmux/ imports only node: builtins and ./ modules of src/tmux/.",
            },
          ],
        },
      ],
    },
  },
);
