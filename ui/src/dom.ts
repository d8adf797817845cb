/**
 * Small DOM helpers. Text from data always goes through `textContent` (never `innerHTML`),
 * so names, messages and errors that came from the server are shown, never interpreted.
 */
import { ApiError } from './api';

type Child = Node | string | null | undefined | false;

export interface ElOptions {
  cls?: string;
  text?: string;
  title?: string;
  attrs?: Record<string, string>;
  onclick?: (ev: Event) => void;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: ElOptions = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (options.cls) {
    node.className = options.cls;
  }
  if (options.text !== undefined) {
    node.textContent = options.text;
  }
  if (options.title) {
    node.title = options.title;
  }
  for (const [k, v] of Object.entries(options.attrs ?? {})) {
    node.setAttribute(k, v);
  }
  if (options.onclick) {
    node.addEventListener('click', options.onclick);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

export function button(label: string, onclick: () => void | Promise<void>, cls = ''): HTMLButtonElement {
  const b = el('button', { cls: `jp-Button lps-button ${cls}`.trim(), text: label });
  b.type = 'button';
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await onclick();
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

/** An error, shown with the field it is about and the fix the server suggests. */
export function errorBox(err: unknown): HTMLElement {
  const box = el('div', { cls: 'lps-error', attrs: { role: 'alert' } });
  if (err instanceof ApiError) {
    box.append(el('div', { cls: 'lps-error-message', text: `${err.code}: ${err.message}` }));
    if (err.field) {
      box.append(el('div', { cls: 'lps-error-field', text: `field: ${err.field}` }));
    }
    if (err.fix) {
      box.append(el('div', { cls: 'lps-error-fix', text: `fix: ${err.fix}` }));
    }
  } else {
    box.append(el('div', { cls: 'lps-error-message', text: String(err instanceof Error ? err.message : err) }));
  }
  return box;
}

/**
 * Marks the input an error is about (the label with that `data-field`) and unmarks the
 * others. The API names a parameter `days` or `parameters.days`, a connector's field
 * `fields.token` and a recipe's slot `connections.crm` (its select is `connection-crm`).
 */
export function markField(form: HTMLElement, field: string | null | undefined): void {
  for (const node of form.querySelectorAll('.lps-field-invalid')) {
    node.classList.remove('lps-field-invalid');
  }
  if (!field) {
    return;
  }
  const bare = field.replace(/^(parameters|fields)\./, '');
  const names = [field, bare, bare.split('.')[0], field.replace(/^connections\./, 'connection-')];
  for (const label of form.querySelectorAll<HTMLElement>('[data-field]')) {
    if (names.includes(label.dataset.field ?? '')) {
      label.classList.add('lps-field-invalid');
    }
  }
}

/** Replaces a node's children. */
export function fill(node: HTMLElement, ...children: Child[]): void {
  node.replaceChildren();
  for (const child of children) {
    if (child) {
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
  }
}

export function formatTime(iso?: string | null): string {
  if (!iso) {
    return '';
  }
  const d = new Date(iso);
  return isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function formatDuration(seconds?: number | null): string {
  if (seconds === null || seconds === undefined) {
    return '';
  }
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

export function statusBadge(status: string | undefined | null): HTMLElement {
  const s = status ?? 'none';
  return el('span', { cls: `lps-status lps-status-${s.replace(/[^a-z]/g, '')}`, text: status ?? '—' });
}
