// Faceswap V3: show the pack's run warnings (server event "faceswap_v3.warning") as toasts titled with
// the node that warned (the event carries its id), and our nodes' errors with their message first.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

function nodeTitle(id) {
  const node = id == null ? null : app.graph?.getNodeById?.(id);
  return node?.title || "Faceswap V3";
}

// A node error's message first: newer frontends (1.4x+) show a generic "Node threw an error during
// execution" and keep the exception's message in a log behind "View details"; ours says what to change.
function showNodeError(detail) {
  if (!String(detail?.node_type ?? "").startsWith("FaceswapV3")) return;
  const type = `${detail.exception_type ?? ""}: `;
  let message = String(detail.exception_message ?? "").trim();
  if (message.startsWith(type)) message = message.slice(type.length);
  message = message.split("\n")[0];
  const toast = app.extensionManager?.toast;
  if (!message || !toast) return;
  toast.add({ severity: "error", summary: nodeTitle(detail.node_id), detail: message, life: 20000 });
}

app.registerExtension({
  name: "FaceswapV3.WarningToasts",
  setup() {
    api.addEventListener("execution_error", ({ detail }) => showNodeError(detail));
    api.addEventListener("faceswap_v3.warning", ({ detail }) => {
      const toast = app.extensionManager?.toast;
      const title = nodeTitle(detail.node);
      if (toast) {
        toast.add({ severity: "warn", summary: title, detail: detail.message, life: 10000 });
      } else {
        console.warn(`${title}:`, detail.message);
      }
    });
  },
});
