// Faceswap V3: list the pack's templates in their intended order. ComfyUI's /workflow_templates lists a
// pack's files in the order the file system returns them and the frontend keeps that order, so the
// pack's own list (its folder is this script's: /extensions/<folder>/...) is sorted by name, which
// starts with the template's number. Titles are the file names; the category's name comes from
// locales/en/main.json.
import { api } from "../../scripts/api.js";

const folder = decodeURIComponent(new URL(import.meta.url).pathname.split("/").slice(-2, -1)[0]);
const byNumber = (a, b) => a.localeCompare(b, "en", { numeric: true });

const listTemplates = api.getWorkflowTemplates?.bind(api);
if (listTemplates) {
  api.getWorkflowTemplates = async () => {
    const templates = await listTemplates();
    if (Array.isArray(templates?.[folder])) templates[folder] = [...templates[folder]].sort(byNumber);
    return templates;
  };
}
