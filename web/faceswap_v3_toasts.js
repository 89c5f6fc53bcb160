// Faceswap V3: show the pack's run warnings (server event "faceswap_v3.warning") as toasts titled with
// the node that warned (the event carries its id).
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

function nodeTitle(id) {
  const node = id == null ? null : app.graph?.getNodeById?.(id);
  return node?.title || "Faceswap V3";
}

app.registerExtension({
  name: "FaceswapV3.WarningToasts",
  setup() {
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
