// A runbook's answer lists a step it skipped as `- promote: skipped (<CEL> is false)`.
// People reading a timeline get the condition in words instead of the raw expression.

const SKIPPED = /^- ([\w-]+): skipped \((.+) is false\)$/;

/** Where a path points, in words: `steps.canary.output.status` → "canary's status". */
function pathWords(path: string): string {
  const step = /^steps\.([\w-]+)(?:\.output)?\.([\w.]+)$/.exec(path);
  if (step)
    return step[2] === 'status' && !path.includes('.output.')
      ? `step ${step[1]}`
      : `${step[1]}'s ${step[2]!.split('.').join(' ')}`;
  const label = /^alert\.labels\.([\w-]+)$/.exec(path);
  if (label) return `the alert's ${label[1]} label`;
  return path;
}

/** The condition in words; any part it cannot read stays as written, in backticks. */
export function describeCondition(cel: string): string {
  return cel
    .replace(/has\(steps\.([\w-]+)\)/g, 'step $1 ran')
    .replace(/has\(alert\.labels\.([\w-]+)\)/g, 'the alert has a $1 label')
    .replace(/steps\.([\w-]+)\.status == 'executed'/g, 'step $1 succeeded')
    .replace(/([\w.]+) == true\b/g, (_, p: string) => `${pathWords(p)} is true`)
    .replace(/([\w.]+) == '([^']*)'/g, (_, p: string, v: string) => `${pathWords(p)} is ${v}`)
    .replace(/([\w.]+) != '([^']*)'/g, (_, p: string, v: string) => `${pathWords(p)} is not ${v}`)
    .replace(/([\w.]+) == ([\w.]+)/g, (_, a: string, b: string) => `${pathWords(a)} equals ${pathWords(b)}`)
    .replace(/\bsteps\.[\w.-]+/g, (p) => pathWords(p))
    .replace(/\balert\.labels\.[\w-]+/g, (p) => pathWords(p))
    .replace(/!\(/g, 'not (')
    .replace(/!(?=\w)/g, 'not ')
    .replace(/ && /g, ' and ')
    .replace(/ \|\| /g, ' or ');
}

/** Every skipped-step line of an answer made readable; other lines unchanged. */
export function readableSkips(answer: string): string {
  return answer
    .split('\n')
    .map((line) => {
      const m = SKIPPED.exec(line);
      return m ? `- ${m[1]}: skipped, as it runs only when ${describeCondition(m[2]!)}` : line;
    })
    .join('\n');
}
