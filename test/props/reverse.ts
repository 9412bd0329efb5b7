/**
 * `patch -R` as text: the reverse of a one-patch unified diff. Headers swap
 * (`---`/`+++`, new/deleted file mode, the index line), hunk ranges swap, and
 * every `+` body line becomes `-` and back. Used by the metamorphic property
 * of the image builder and the entity diff: what the forward patch adds, its
 * reverse removes, and the forward post-image is the reverse's pre-image.
 */
const HUNK = /^@@ -(\d+(?:,\d+)?) \+(\d+(?:,\d+)?) @@(.*)$/;

const count = (range: string) => (range.includes(',') ? Number(range.split(',')[1]) : 1);

export function reversePatch(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let oldLeft = 0;
  let newLeft = 0;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (oldLeft > 0 || newLeft > 0) {
      const c = l[0];
      if (c === '+') (out.push(`-${l.slice(1)}`), newLeft--);
      else if (c === '-') (out.push(`+${l.slice(1)}`), oldLeft--);
      else if (c === '\\') out.push(l);
      else (out.push(l), oldLeft--, newLeft--);
      continue;
    }
    const h = HUNK.exec(l);
    if (h) {
      oldLeft = count(h[1]);
      newLeft = count(h[2]);
      out.push(`@@ -${h[2]} +${h[1]} @@${h[3]}`);
    } else if (l.startsWith('--- ') && lines[i + 1]?.startsWith('+++ ')) {
      out.push(`--- ${lines[i + 1].slice(4)}`, `+++ ${l.slice(4)}`);
      i++;
    } else if (l.startsWith('new file mode ')) out.push(`deleted file mode ${l.slice(14)}`);
    else if (l.startsWith('deleted file mode ')) out.push(`new file mode ${l.slice(18)}`);
    else if (/^index [0-9a-f]+\.\.[0-9a-f]+/.test(l)) out.push(l.replace(/^index ([0-9a-f]+)\.\.([0-9a-f]+)/, 'index $2..$1'));
    else out.push(l);
  }
  return out.join('\n');
}
