// Faceswap V3: a new Load Face is wide enough to show the picked photo's name. In the Vue renderer (Nodes 2.0)
// a node's widgets share one label column and the value box gets the rest; at LiteGraph's computed width the
// file name shows 10 characters. Display only: a saved node keeps its saved size.
import { app } from "../../scripts/app.js";

const MIN_WIDTH = { FaceswapV3LoadFace: 340 };

app.registerExtension({
  name: "FaceswapV3.Widths",
  nodeCreated(node) {
    const width = MIN_WIDTH[node.comfyClass ?? node.type];
    if (width && node.size?.[0] < width) node.setSize([width, node.size[1]]);
  },
});
