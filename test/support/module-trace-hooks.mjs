import { appendFileSync } from 'node:fs';

/** Passes every resolution on unchanged, noting the module it resolved to. */
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (process.env.SLUICE_MODULE_TRACE) appendFileSync(process.env.SLUICE_MODULE_TRACE, `${result.url}\n`);
  return result;
}
