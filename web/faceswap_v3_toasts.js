// Faceswap V3: show the pack's run warnings (server event "faceswap_v3.warning") as toasts.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

app.registerExtension({
  name: "FaceswapV3.WarningToasts",
  setup() {
    api.addEventListener("faceswap_v3.warning", ({ detail }) => {
      const toast = app.extensionManager?.toast;
      if (toast) {
        toast.add({ severity: "warn", summary: "Faceswap V3", detail: detail.message, life: 10000 });
      } else {
        console.warn("Faceswap V3:", detail.message);
      }
    });
  },
});
