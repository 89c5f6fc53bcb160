// Faceswap V3: show the pack's run warnings (server event "faceswap_v3.warning") as toasts titled with
// the node that warned (the event carries its id), and our nodes' errors with their message first.
// Pressing Run, or a run starting, clears the toasts the previous run left.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

function nodeTitle(id) {
  const node = id == null ? null : app.graph?.getNodeById?.(id);
  return node?.title || "Faceswap V3";
}

// the toasts this pack added that may still be on screen: a function that takes each one away
const shown = new Set();

// Frontends 1.5x have toast.error/warning (returning an id) and toast.dismiss(id); older ones toast.add(message)
// and toast.remove(message).
function addToast(message) {
  const toast = app.extensionManager?.toast;
  if (!toast) return false;
  let close;
  const kind = { error: "error", warn: "warning" }[message.severity];
  if (typeof toast.dismiss === "function" && typeof toast[kind] === "function") {
    const id = toast[kind](message.summary, { description: message.detail, duration: message.life });
    close = () => toast.dismiss(id);
  } else {
    toast.add(message);
    close = () => toast.remove?.(message);
  }
  shown.add(close);
  setTimeout(() => shown.delete(close), message.life + 1000);
  return true;
}

function clearStaleToasts() {
  for (const close of shown) close();
  shown.clear();
}

// Whether the page already shows text (screen readers' copies aside).
function onScreen(text) {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.textContent.includes(text) && !node.parentElement?.closest(".sr-only")) return true;
  }
  return false;
}

// A node error's message first: newer frontends (1.4x+) show a generic "Node threw an error during
// execution" and keep the exception's message in a log behind "View details"; ours says what to change.
// Older ones (1.2x) show the message in their own error dialog: then ours would repeat it, and is left out.
function showNodeError(detail) {
  if (!String(detail?.node_type ?? "").startsWith("FaceswapV3")) return;
  const type = `${detail.exception_type ?? ""}: `;
  let message = String(detail.exception_message ?? "").trim();
  if (message.startsWith(type)) message = message.slice(type.length);
  message = message.split("\n")[0];
  if (!message) return;
  setTimeout(() => {
    if (!onScreen(message)) addToast({ severity: "error", summary: nodeTitle(detail.node_id), detail: message, life: 20000 });
  }, 300);
}

const queuePrompt = api.queuePrompt.bind(api);
api.queuePrompt = async (...args) => {
  clearStaleToasts();
  return queuePrompt(...args);
};

app.registerExtension({
  name: "FaceswapV3.WarningToasts",
  setup() {
    api.addEventListener("execution_start", () => clearStaleToasts());
    api.addEventListener("execution_error", ({ detail }) => showNodeError(detail));
    api.addEventListener("faceswap_v3.warning", ({ detail }) => {
      const title = nodeTitle(detail.node);
      if (!addToast({ severity: "warn", summary: title, detail: detail.message, life: 10000 })) {
        console.warn(`${title}:`, detail.message);
      }
    });
  },
});
