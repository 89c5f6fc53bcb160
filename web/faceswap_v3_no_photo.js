// Faceswap V3: a Load Face saved with no photo (the templates) opens with none. Frontends before 1.3x cannot
// hold an empty image widget: they read it as the file the widget showed when it was made (the input folder's
// first), so a template would swap whatever photo comes first. There the widget names the placeholder below,
// which no file has, and Run says which widget to set.
import { app } from "../../scripts/app.js";

export const NO_PHOTO_PLACEHOLDER = "(pick a photo)";

app.registerExtension({
  name: "FaceswapV3.NoPhoto",
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== "FaceswapV3LoadFace") return;
    const onConfigure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function (info) {
      const result = onConfigure?.apply(this, arguments);
      const image = this.widgets?.find((w) => w.name === "image");
      if (image && info?.widgets_values?.[0] === "" && image.value !== "") {
        image.value = NO_PHOTO_PLACEHOLDER;
        this.imgs = undefined; // the first file's preview, fetched when the widget was made
      }
      return result;
    };
  },
});
