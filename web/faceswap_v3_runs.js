// Faceswap V3, when Run is pressed: a Load Face without a photo counts as one issue. ComfyUI files a node's failed validation once per input its check reads, so a Load Face
// whose `image` and URL box are both empty would count twice (and show its message twice).
import { api } from "../../scripts/api.js";

const ONE_ISSUE_PER_NODE = new Set(["FaceswapV3LoadFace"]);

// The same message filed on several inputs of such a node is kept once, on the first input.
export function mergeRepeatedErrors(nodeErrors) {
  for (const nodeError of Object.values(nodeErrors ?? {})) {
    if (!ONE_ISSUE_PER_NODE.has(nodeError?.class_type) || !Array.isArray(nodeError.errors)) continue;
    const seen = new Set();
    nodeError.errors = nodeError.errors.filter((error) => {
      const input = error?.extra_info?.input_name ?? "";
      const details = String(error?.details ?? "");
      const reason = details.startsWith(`${input} - `) ? details.slice(input.length + 3) : details;
      const key = `${error?.type}|${reason}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }
  return nodeErrors;
}

const queuePrompt = api.queuePrompt.bind(api);
api.queuePrompt = async (...args) => {
  try {
    const answer = await queuePrompt(...args);
    mergeRepeatedErrors(answer?.node_errors);
    return answer;
  } catch (error) {
    mergeRepeatedErrors(error?.response?.node_errors);
    throw error;
  }
};
