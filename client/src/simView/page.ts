/**
 * The simulation view's page: nothing but our script and stylesheet, by
 * nonce and from the extension's own folders (Content-Security-Policy with
 * default-src 'none').
 */
export function viewHtml(cspSource: string, scriptUri: string, styleUri: string, nonce: string): string {
  const csp = [`default-src 'none'`, `style-src ${cspSource}`, `img-src ${cspSource} data:`, `script-src 'nonce-${nonce}'`, `font-src ${cspSource}`].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${styleUri}">
<title>Livepatch simulation</title>
</head>
<body>
<div id="root"></div>
<script nonce="${nonce}" src="${scriptUri}"></script>
</body>
</html>`;
}

/** A fresh nonce per page (32 characters from a CSPRNG when there is one). */
export function makeNonce(random: (n: number) => Uint8Array): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(random(32), (b) => chars[b % chars.length]).join('');
}
