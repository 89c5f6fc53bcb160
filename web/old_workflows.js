// Loads workflows saved by older versions of this pack with their values in the right widgets.
// A canvas workflow stores widget values by position, so a widget that a node type no longer has
// would shift every later value into the wrong widget; its saved value is dropped instead. Values of
// widgets that moved to the end of a node are moved there too.
import { app } from "../../scripts/app.js";

// node type -> widgets it used to have: name, position, the value's type, and how many values
// the node saved then.
const REMOVED_WIDGETS = {
  FaceswapV3: [{ name: "base64", index: 11, valueType: "boolean", savedCount: 12 }],
};

function isStale(values, removed, widgets) {
  if (widgets.some((w) => w.name === removed.name)) return false;
  if (values.length !== removed.savedCount || typeof values[removed.index] !== removed.valueType) return false;
  // a current layout with exactly as many widgets and one of that type at that place is not old
  const current = widgets[removed.index];
  return !(widgets.length === removed.savedCount && current && typeof current.value === removed.valueType);
}

// node type -> widgets moved to the end of the node: their names, where they were, and a test that
// recognises values saved there (the widget now at that place never holds such a value).
const MOVED_TO_END = {
  FaceswapV3: {
    names: ["image_format", "image_quality"],
    index: 9,
    savedThere: (values) => ["jpeg", "png", "webp"].includes(values[9]) && typeof values[10] === "number",
  },
};

function moveToEnd(values, moved, widgets) {
  const count = moved.names.length;
  const names = widgets.map((w) => w.name);
  const atEnd = names.slice(-count).join() === moved.names.join();
  if (!atEnd || names[moved.index] === moved.names[0] || !moved.savedThere(values)) return values;
  const kept = values.filter((_, i) => i < moved.index || i >= moved.index + count);
  if (kept.length > widgets.length - count) return values;
  // widgets added since the workflow was saved keep their defaults (the values they were created with)
  const added = widgets.slice(kept.length, widgets.length - count).map((w) => w.value);
  return [...kept, ...added, ...values.slice(moved.index, moved.index + count)];
}

export function upgradeWidgetValues(nodeType, values, widgets) {
  let upgraded = values;
  for (const removed of REMOVED_WIDGETS[nodeType] ?? []) {
    if (Array.isArray(upgraded) && isStale(upgraded, removed, widgets)) {
      upgraded = upgraded.filter((_, i) => i !== removed.index);
    }
  }
  const moved = MOVED_TO_END[nodeType];
  return moved && Array.isArray(upgraded) ? moveToEnd(upgraded, moved, widgets) : upgraded;
}

app.registerExtension({
  name: "FaceswapV3.OldWorkflows",
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (!(nodeData.name in REMOVED_WIDGETS) && !(nodeData.name in MOVED_TO_END)) return;
    const configure = nodeType.prototype.configure;
    nodeType.prototype.configure = function (info) {
      const widgets = (this.widgets ?? []).filter((w) => w.serialize !== false);
      const values = upgradeWidgetValues(nodeData.name, info.widgets_values, widgets);
      return configure.call(this, values === info.widgets_values ? info : { ...info, widgets_values: values });
    };
  },
});
