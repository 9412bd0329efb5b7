/**
 * Token-level normalisation of C text: comments dropped, whitespace reduced to
 * one space between tokens. Two texts with the same normal form compile to the
 * same code (up to __LINE__), so a change between them is cosmetic.
 */

function isIdChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || (c >= 48 && c <= 57);
}

export function normalizeC(text: string): string {
  const out: string[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11) {
      i++;
      continue;
    }
    if (c === 92 && (text.charCodeAt(i + 1) === 10 || (text.charCodeAt(i + 1) === 13 && text.charCodeAt(i + 2) === 10))) {
      i += text.charCodeAt(i + 1) === 13 ? 3 : 2; // line continuation
      continue;
    }
    if (c === 47 && text.charCodeAt(i + 1) === 47) {
      while (i < n && text.charCodeAt(i) !== 10) i++;
      continue;
    }
    if (c === 47 && text.charCodeAt(i + 1) === 42) {
      const e = text.indexOf('*/', i + 2);
      i = e < 0 ? n : e + 2;
      continue;
    }
    if (c === 34 || c === 39) {
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 92) j += 2;
        else if (d === c || d === 10) {
          j++;
          break;
        } else j++;
      }
      out.push(text.slice(i, j));
      i = j;
      continue;
    }
    if (isIdChar(c)) {
      let j = i + 1;
      // numbers like 1.5e-3 or 0x1fULL stay one token
      while (j < n && (isIdChar(text.charCodeAt(j)) || (text.charCodeAt(j) === 46 && c >= 48 && c <= 57))) j++;
      out.push(text.slice(i, j));
      i = j;
      continue;
    }
    // punctuation: multi-character operators kept together
    const three = text.slice(i, i + 3);
    if (three === '<<=' || three === '>>=' || three === '...') {
      out.push(three);
      i += 3;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (/^(->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||\+=|-=|\*=|\/=|%=|&=|\|=|\^=|##)$/.test(two)) {
      out.push(two);
      i += 2;
      continue;
    }
    out.push(text[i]);
    i++;
  }
  return out.join(' ');
}
