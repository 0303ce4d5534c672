/**
 * `-o json|yaml`: the object as JSON or YAML on stdout; false for any other format (the caller
 * prints its table). YAML is loaded only when asked for, so a table costs no YAML parser at start.
 */
export async function print(o: unknown, format: string | undefined): Promise<boolean> {
  if (format === 'json') process.stdout.write(`${JSON.stringify(o, null, 2)}\n`);
  else if (format === 'yaml') process.stdout.write((await import('yaml')).default.stringify(o));
  else return false;
  return true;
}
