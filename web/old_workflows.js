// Loads workflows saved by older versions of this pack with their values in the right widgets.
// A canvas workflow stores widget values by position, so a widget that a node type no longer has
// would shift every later value into the wrong widget; its saved value is dropped instead.
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

export function upgradeWidgetValues(nodeType, values, widgets) {
  let upgraded = values;
  for (const removed of REMOVED_WIDGETS[nodeType] ?? []) {
    if (Array.isArray(upgraded) && isStale(upgraded, removed, widgets)) {
      upgraded = upgraded.filter((_, i) => i !== removed.index);
    }
  }
  return upgraded;
}

app.registerExtension({
  name: "FaceswapV3.OldWorkflows",
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (!(nodeData.name in REMOVED_WIDGETS)) return;
    const configure = nodeType.prototype.configure;
    nodeType.prototype.configure = function (info) {
      const widgets = (this.widgets ?? []).filter((w) => w.serialize !== false);
      const values = upgradeWidgetValues(nodeData.name, info.widgets_values, widgets);
      return configure.call(this, values === info.widgets_values ? info : { ...info, widgets_values: values });
    };
  },
});
