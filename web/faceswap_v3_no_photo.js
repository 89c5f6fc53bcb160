// Faceswap V3: a Load Face (or core Load Video) saved with no file (the templates) opens with none. Frontends
// before 1.3x cannot hold an empty file widget: they read it as the file the widget showed when it was made (the
// input folder's first), so a template would swap whatever photo or video comes first. There the widget names a
// placeholder below, which no file has, and Run says which widget to set. Newer frontends hold "" (and fetch no
// preview); core Load Video's check passes "" (the input folder exists), so an empty Load Video is queued as the
// placeholder, and Run says "Invalid video file: (pick a video)" on it instead of failing later in
// Get Video Components ("Is a directory").
import { app } from "../../scripts/app.js";

export const NO_PHOTO_PLACEHOLDER = "(pick a photo)";
export const NO_VIDEO_PLACEHOLDER = "(pick a video)";
const EMPTY_FILE_WIDGETS = {
  FaceswapV3LoadFace: ["image", NO_PHOTO_PLACEHOLDER],
  LoadVideo: ["file", NO_VIDEO_PLACEHOLDER],
};

app.registerExtension({
  name: "FaceswapV3.NoPhoto",
  beforeRegisterNodeDef(nodeType, nodeData) {
    const emptyFile = EMPTY_FILE_WIDGETS[nodeData.name];
    if (!emptyFile) return;
    const [widgetName, placeholder] = emptyFile;
    const onConfigure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function (info) {
      const result = onConfigure?.apply(this, arguments);
      const widget = this.widgets?.find((w) => w.name === widgetName);
      if (widget && info?.widgets_values?.[0] === "" && widget.value !== "") {
        widget.value = placeholder;
        this.imgs = undefined; // the first file's preview, fetched when the widget was made
      } else if (widget && nodeData.name === "LoadVideo" && !widget.faceswapV3Placeholder) {
        widget.faceswapV3Placeholder = true;
        const serializeValue = widget.serializeValue;
        widget.serializeValue = async function () {
          const value = serializeValue ? await serializeValue.apply(this, arguments) : widget.value;
          return value === "" ? placeholder : value;
        };
      }
      return result;
    };
  },
});
