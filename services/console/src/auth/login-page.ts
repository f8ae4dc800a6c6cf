/** What went wrong with a login attempt, shown beside the field it concerns. */
export interface LoginErrors {
  name?: string;
  password?: string;
  /** Not about one field: throttling, a cross-site post. */
  form?: string;
}

export interface LoginPageInput {
  name?: string;
  next?: string;
  errors?: LoginErrors;
  /** The console's stylesheet, when the package ships one. */
  stylesheet?: string;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function fieldError(id: string, message: string | undefined): string {
  return message === undefined
    ? ''
    : `<span class="field-error" id="${id}-error" role="alert">${escapeHtml(message)}</span>`;
}

function describedBy(id: string, message: string | undefined): string {
  return message === undefined ? '' : ` aria-invalid="true" aria-describedby="${id}-error"`;
}

/** The login page: a plain form, no script at all (the CSP allows none inline anyway). */
export function loginPage(input: LoginPageInput = {}): string {
  const e = input.errors ?? {};
  const css = input.stylesheet === undefined ? '' : `\n<link rel="stylesheet" href="${escapeHtml(input.stylesheet)}">`;
  const formError =
    e.form === undefined ? '' : `\n<p class="form-error" id="form-error" role="alert">${escapeHtml(e.form)}</p>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · cmq console</title>${css}
</head>
<body class="login">
<main>
<h1>cmq console</h1>
<form method="post" action="/login" class="login-form">${formError}
<input type="hidden" name="next" value="${escapeHtml(input.next ?? '/')}">
<p><label for="name">User</label>
<input id="name" name="name" autocomplete="username" required autofocus value="${escapeHtml(input.name ?? '')}"${describedBy('name', e.name)}>
${fieldError('name', e.name)}</p>
<p><label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${describedBy('password', e.password)}>
${fieldError('password', e.password)}</p>
<p><button type="submit">Log in</button></p>
</form>
</main>
</body>
</html>
`;
}
