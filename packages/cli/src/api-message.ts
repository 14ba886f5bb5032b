/**
 * A mothership's validation message in a person's words. The server names the part of the
 * request at fault (`params.id: id must be a job id`, `query.limit: …`, `body.name: …`); a
 * person typed an argument or a flag, not a request path, so the path goes: what is left says
 * what was wrong ("id must be a job id"), or names the field ("name: …").
 */
export function plainApiMessage(message: string): string {
  const param = /^params\.[\w.]+: (.+)$/s.exec(message);
  if (param) return param[1]!;
  return message.replace(/^(?:query|body)\.([\w.]+): /, '$1: ');
}
