/**
 * Forms generated from JSON Schemas: a recipe's parameters and a connector's fields.
 *
 * Each property becomes one input by its type (`enum` a drop-down, numbers a number input,
 * a `date` format a date input, objects and arrays JSON text); `writeOnly` properties
 * (secrets) are password inputs that never show a value: left empty, they are not sent, so
 * the stored secret is kept. A drop-down (an `enum`, a pick list) that may be left unset
 * starts with an empty choice naming the default: chosen, nothing is sent, as for an emptied
 * text input, so a saved value can be forgotten from the form.
 */
import { JsonSchema, PicklistOption } from './api';
import { el } from './dom';

type Input = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

export interface FieldOptions {
  /** Options for a property with `x-picklist`, fetched through a connection. */
  picklist?: (prop: JsonSchema) => Promise<PicklistOption[]> | null;
  /** Disables every input (a role that may not change it). */
  readOnly?: boolean;
  /** The empty choice of a drop-down whose default is not known: what stands unset. */
  unset?: string;
}

function kind(schema: JsonSchema): string {
  const t = Array.isArray(schema.type) ? schema.type.find(x => x !== 'null') : schema.type;
  if (schema.enum) {
    return 'enum';
  }
  return t ?? 'string';
}

export class SchemaForm {
  readonly node: HTMLElement;

  constructor(
    private schema: JsonSchema,
    private values: Record<string, unknown>,
    private options: FieldOptions = {}
  ) {
    this.node = el('div', { cls: 'lps-form' });
    const required = new Set(schema.required ?? []);
    for (const [name, prop] of Object.entries(schema.properties ?? {})) {
      const input = this.input(name, prop);
      this.inputs.set(name, input);
      input.disabled = !!options.readOnly;
      const label = el(
        'label',
        { cls: 'lps-field', attrs: { 'data-field': name } },
        el('span', { cls: 'lps-field-label', text: `${prop.title ?? name}${required.has(name) ? ' *' : ''}` }),
        input
      );
      if (prop.description) {
        label.append(el('span', { cls: 'lps-field-help', text: prop.description }));
      }
      if (prop.writeOnly) {
        label.append(el('span', { cls: 'lps-field-help', text: 'secret: write-only, never shown' }));
      }
      this.node.append(label);
    }
  }

  /** The values, in their schema types; throws an Error naming the field when one is bad. */
  value(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, input] of this.inputs) {
      const prop = this.schema.properties![name];
      const raw = input instanceof HTMLInputElement && input.type === 'checkbox' ? input.checked : input.value;
      const k = kind(prop);
      if (prop.writeOnly && raw === '') {
        continue; // keep the stored secret
      }
      if (k === 'boolean') {
        out[name] = raw;
      } else if (k === 'integer' || k === 'number') {
        if (raw === '') {
          continue;
        }
        const n = Number(raw);
        if (isNaN(n) || (k === 'integer' && !Number.isInteger(n))) {
          throw new Error(`${prop.title ?? name}: give ${k === 'integer' ? 'a whole number' : 'a number'}`);
        }
        out[name] = n;
      } else if (k === 'object' || k === 'array') {
        if (raw === '') {
          continue;
        }
        try {
          out[name] = JSON.parse(String(raw));
        } catch {
          throw new Error(`${prop.title ?? name}: give valid JSON`);
        }
      } else if (k === 'enum') {
        if (raw === '') {
          continue; // the empty choice: the default stands (a saved value is forgotten)
        }
        const match = (prop.enum ?? []).find(v => String(v) === raw);
        out[name] = match === undefined ? raw : match;
      } else {
        if (raw === '' && !(this.schema.required ?? []).includes(name)) {
          continue;
        }
        out[name] = raw;
      }
    }
    return out;
  }

  private input(name: string, prop: JsonSchema): Input {
    const saved = name in this.values;
    const current = saved ? this.values[name] : prop.default;
    const k = kind(prop);
    if (prop.writeOnly) {
      const input = el('input', { cls: 'lps-input', attrs: { name, type: 'password', autocomplete: 'new-password' } });
      input.placeholder = current !== undefined && current !== null && current !== '' ? 'unchanged (****)' : '';
      return input;
    }
    if (k === 'enum') {
      const select = el('select', { cls: 'lps-input', attrs: { name } });
      select.append(...this.unsetChoice(name, prop, String));
      for (const v of prop.enum ?? []) {
        select.append(el('option', { text: String(v), attrs: { value: String(v) } }));
      }
      select.value = saved ? String(current) : '';
      return select;
    }
    if (k === 'boolean') {
      const input = el('input', { cls: 'lps-input', attrs: { name, type: 'checkbox' } });
      input.checked = !!current;
      return input;
    }
    if (k === 'object' || k === 'array') {
      const area = el('textarea', { cls: 'lps-input lps-json', attrs: { name, rows: '3' } });
      area.value = current === undefined ? '' : JSON.stringify(current, null, 1);
      return area;
    }
    const input = el('input', {
      cls: 'lps-input',
      attrs: { name, type: k === 'integer' || k === 'number' ? 'number' : prop.format === 'date' ? 'date' : 'text' }
    });
    input.value = current === undefined || current === null ? '' : String(current);
    const options = prop['x-picklist'] && !this.options.readOnly ? this.options.picklist?.(prop) : null;
    if (options) {
      // A drop-down once the pick list arrives; the text input stays if it cannot be fetched.
      const select = el('select', { cls: 'lps-input', attrs: { name } });
      const shown = input.value;
      void options.then(
        list => {
          const text = (o: PicklistOption): string => (o.label && o.label !== o.value ? `${o.label} (${o.value})` : o.value);
          const values = list.map(o => o.value);
          // What was typed meanwhile is kept; the default shown while nothing is saved is
          // the empty choice, which names it.
          const chosen = !saved && input.value === shown ? '' : input.value;
          select.append(
            ...this.unsetChoice(name, prop, v => {
              const named = list.find(o => o.value === String(v));
              return named ? text(named) : String(v);
            })
          );
          if (chosen && !values.includes(chosen)) {
            select.append(el('option', { text: chosen, attrs: { value: chosen } }));
          }
          for (const o of list) {
            select.append(el('option', { text: text(o), attrs: { value: o.value } }));
          }
          select.value = chosen;
          input.replaceWith(select);
          this.inputs.set(name, select);
        },
        () => undefined
      );
    }
    return input;
  }

  /**
   * A drop-down's empty first choice, naming what stands when nothing is chosen: none for a
   * required property with no default, which must be chosen.
   */
  private unsetChoice(name: string, prop: JsonSchema, label: (value: unknown) => string): HTMLOptionElement[] {
    if (prop.default === undefined && (this.schema.required ?? []).includes(name)) {
      return [];
    }
    const text = prop.default === undefined ? (this.options.unset ?? '(not set)') : `(default: ${label(prop.default)})`;
    return [el('option', { text, attrs: { value: '' } })];
  }

  private inputs = new Map<string, Input>();
}
