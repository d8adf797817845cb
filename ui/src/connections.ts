/**
 * The Connections panel: create, edit, test and delete connections, with forms generated
 * from each connector's field schema. Secret fields are write-only: the server shows them
 * as ****, the form never fills them in, and an empty secret keeps the stored one. A
 * connector that does not load (a brand's own, just written with a mistake) is shown with its
 * error and fix, so the admin sees why it is missing; only the connectors that load are
 * offered as types (a broken file that repeats a bundled name leaves the bundled one there).
 * A connection whose connector is broken or gone is shown why when edited, never a form. A
 * placeholder (imported with a project package, without its secrets) says that Edit gives
 * them; nothing uses it until then.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { settingsIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { api, ApiError, BrokenConnector, Connection, Connector, latest } from './api';
import { StudioContext } from './context';
import { announced, button, el, errorBox, FieldError, fill, focusIn, formatTime, markField, Rows, scroller, statusBadge } from './dom';
import { asked, inUseFix, labError, labText } from './fixes';
import { SchemaForm } from './form';

/** What a Delete does, said before it is done: the server refuses to delete a connection a
 * recipe's settings choose or a started recipe uses (`inUseFix` says how to free it); a
 * stopped recipe whose slot it fills by the automatic choice is not asked. */
const DELETE_WARNING =
  'Its fields and secrets are deleted for good. A connection that recipes choose in their ' +
  'Settings, or that a started recipe uses, is not deleted: those recipes are named. A stopped ' +
  'recipe that picks it automatically cannot run until another connection fills its slot.';

export class ConnectionsPanel extends Widget {
  constructor(private ctx: StudioContext) {
    super();
    this.id = 'lpstudio-connections';
    this.title.label = 'Connections';
    this.title.icon = settingsIcon; // a collapsed tab (200% zoom) shows it, not a blank
    this.title.closable = true;
    this.addClass('lps-panel');
    this.addClass('lps-connections');
    const toolbar = el('div', { cls: 'lps-toolbar' }, el('h2', { text: 'Connections' }));
    if (ctx.me.can.build) {
      toolbar.append(button('New connection', () => this.edit(null), 'lps-primary lps-new-connection'));
    }
    toolbar.append(button('Refresh', () => this.refresh(), 'lps-refresh'));
    this.node.append(
      toolbar,
      this.problems,
      this.message,
      scroller(
        el(
          'table',
          { cls: 'lps-table' },
          el(
            'thead',
            {},
            el('tr', {}, ...['name', 'type', 'status', 'fields', 'tested', ''].map(h => el('th', { text: h })))
          ),
          this.rows.node
        )
      ),
      this.editor
    );
    // Escape closes the editor, as a dialog's would, the focus back on what opened it.
    this.editor.addEventListener('keydown', event => {
      if (event.key === 'Escape' && this.editor.hasChildNodes()) {
        event.preventDefault();
        event.stopPropagation();
        this.closeEditor();
      }
    });
    void this.refresh();
  }

  /** Re-shown (another tab was in front): connections added, changed or tested elsewhere. */
  protected onAfterShow(): void {
    void this.refresh();
  }

  async refresh(): Promise<void> {
    try {
      const answer = await this.fetch();
      if (!answer) {
        return; // a newer refresh (after another save or delete) is under way
      }
      const [listing, list] = answer;
      [this.connectors, this.broken, this.list] = [listing.connectors, listing.broken, list];
      const problems = JSON.stringify(this.broken);
      if (problems !== this.problemsShown) {
        this.problemsShown = problems;
        fill(this.problems, ...this.broken.map(brokenNotice));
      }
      // Only the connections that changed are drawn again (one tested, say): the others
      // keep their buttons, and the one a user tabbed to keeps the focus.
      this.draw();
      this.rows.node.dataset.loaded = 'true';
    } catch (err) {
      this.tell(errorBox(err));
    }
  }

  /** The connections' rows, each with whether its Test's result is said above the table. */
  private draw(): void {
    this.rows.show(this.list.map(c => ({ c, saidAbove: c.name === this.said?.name && c.status_message === this.said.message })));
  }

  /** Says `said` above the table (what an action did; none: nothing), where a screen reader
   * says it too: a Test's result is said there alone, not again in its row. */
  private tell(said: HTMLElement | null, tested: Connection | null = null): void {
    this.said = tested && { name: tested.name, message: tested.status_message };
    fill(this.message, said);
    this.draw();
  }

  private row({ c, saidAbove }: Line): HTMLElement {
    const actions = el('td', { cls: 'lps-actions' });
    const of = `connection ${c.name}`; // every row has its Delete: each names its connection
    if (this.ctx.me.can.build) {
      actions.append(
        button('Test', () => this.act(() => api.testConnection(c.name)), 'lps-test', of),
        button('Edit', () => this.edit(c), 'lps-edit', of),
        button('Delete', () => this.remove(c.name), 'lps-delete', of)
      );
    }
    const fields = Object.entries(c.fields ?? {}).map(([k, v]) => el('div', { text: `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}` }));
    return el(
      'tr',
      { attrs: { 'data-connection': c.name, 'data-status': c.status } },
      el('td', { text: c.name }),
      el('td', { text: c.type }),
      el(
        'td',
        {},
        statusBadge(c.status),
        c.status === 'placeholder'
          ? el('div', {
              cls: 'lps-problem',
              text: `imported without its secrets: ${asked('give them with Edit, then Test', 'build', this.ctx.me.can)}`
            })
          : null,
        // A placeholder's message is the command line's way to give its secrets: the lab's
        // is said above. Others (a test's failure) are said with their fix in the lab's terms,
        // here unless the Test just clicked says it above the table.
        c.status_message && c.status !== 'placeholder' && !saidAbove ? el('div', { cls: 'lps-hint', text: labText(c.status_message) }) : null
      ),
      el('td', { cls: 'lps-fields' }, ...fields),
      el('td', { cls: 'lps-nowrap', text: formatTime(c.tested_at) }),
      actions
    );
  }

  /** The form for a new connection (null) or for changing one, the focus on its first field. */
  private edit(c: Connection | null): void {
    this.tell(null);
    this.opener = c ? `Edit connection ${c.name}` : 'New connection';
    this.editing = c?.name ?? null;
    const loaded = !c || this.connectors.some(k => k.name === c.type);
    const unusable = c && !loaded ? (this.broken.find(b => b.name === c.type) ?? missing(c.type)) : null;
    if (c && unusable) {
      // Its fields cannot be known: an empty form's Save would clear them all.
      fill(
        this.editor,
        el('h3', { text: `Edit connection ${c.name}` }),
        brokenNotice(unusable),
        el('div', { cls: 'lps-actions' }, button('Cancel', () => this.closeEditor()))
      );
      focusIn(this.editor);
      return;
    }
    const type = el('select', { cls: 'lps-input', attrs: { name: 'type' } });
    for (const k of this.connectors) {
      type.append(el('option', { text: `${k.title} (${k.name})`, attrs: { value: k.name } }));
    }
    const name = el('input', { cls: 'lps-input', attrs: { name: 'name', placeholder: 'e.g. lp-prod' } });
    const formBox = el('div');
    const message = el('div', { cls: 'lps-message' });
    let form: SchemaForm;
    const connector = (): Connector | undefined => this.connectors.find(k => k.name === type.value);
    const renderForm = (): void => {
      form = new SchemaForm(connector()?.fields ?? {}, c ? c.fields : {});
      fill(formBox, el('p', { cls: 'lps-hint', text: connector()?.description ?? '' }), form.node);
    };
    if (c) {
      type.value = c.type;
      type.disabled = true;
      name.value = c.name;
      name.disabled = true;
    }
    type.addEventListener('change', renderForm);
    renderForm();

    const save = async (): Promise<void> => {
      fill(message);
      let fields: Record<string, unknown>;
      try {
        fields = form.value();
      } catch (err) {
        // Refused before it is sent (not a whole number, not JSON, text the browser cannot
        // read such as 3e): marked as the API's are.
        fill(message, errorBox(err));
        markField(this.editor, err instanceof FieldError ? err.field : null, message);
        return;
      }
      try {
        if (c) {
          // Only what changed: unchanged secrets are not sent (they stay as stored); a field
          // emptied here is sent as null, which clears it (a secret left empty is kept).
          const changed: Record<string, unknown> = Object.fromEntries(
            Object.entries(fields).filter(([k, v]) => JSON.stringify(c.fields[k]) !== JSON.stringify(v))
          );
          for (const [k, v] of Object.entries(c.fields)) {
            if (!(k in fields) && v !== null && v !== '' && v !== '****') {
              changed[k] = null;
            }
          }
          await api.updateConnection(c.name, changed);
        } else {
          await api.createConnection(name.value.trim(), type.value, fields);
        }
        await this.refresh();
        this.closeEditor();
      } catch (err) {
        fill(message, errorBox(labError(err)));
        markField(this.editor, err instanceof ApiError ? err.field : null, message);
      }
    };

    fill(
      this.editor,
      el('h3', { text: c ? `Edit connection ${c.name}` : 'New connection' }),
      el('label', { cls: 'lps-field', attrs: { 'data-field': 'name' } }, el('span', { cls: 'lps-field-label', text: 'Name *' }), name),
      el('label', { cls: 'lps-field', attrs: { 'data-field': 'type' } }, el('span', { cls: 'lps-field-label', text: 'Connector *' }), type),
      formBox,
      el('div', { cls: 'lps-actions' }, button('Save connection', save, 'lps-primary lps-save'), button('Cancel', () => this.closeEditor())),
      message
    );
    focusIn(this.editor);
  }

  /** Closes the editor, the focus back on the control that opened it (its Edit). */
  private closeEditor(): void {
    fill(this.editor);
    this.editing = null;
    focusIn(this.node, this.opener);
  }

  /**
   * Deletes a connection once the user says so in JupyterLab's own dialog (a browser's
   * `confirm` looks foreign and takes the keyboard from the lab). Whatever the answer, the
   * `button` gives the focus back: to this Delete on Cancel, else to the same control of the
   * row now in its place, as after the panel's other actions.
   */
  private async remove(name: string): Promise<void> {
    const answer = await showDialog({
      title: `Delete the connection ${name}?`,
      body: DELETE_WARNING,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (answer.button.accept) {
      await this.act(async () => {
        await api.deleteConnection(name).catch(err => {
          throw inUseFix(err, name);
        });
        if (this.editing === name) {
          // Its Edit form would save to a connection that is gone.
          fill(this.editor);
          this.editing = null;
        }
      });
    }
  }

  /** An action on a connection, then the connections as they are now: above the table, the
   * result of a Test (the connection it answers), or the action's error. */
  private async act(action: () => Promise<Connection | void>): Promise<void> {
    this.tell(null);
    try {
      const tested = await action();
      await this.refresh();
      if (tested) {
        this.tell(testResult(tested), tested);
      }
    } catch (err) {
      this.tell(errorBox(labError(err)));
    }
  }

  private fetch = latest(async () => [await api.connectors(), await api.connections()] as const);
  private connectors: Connector[] = [];
  private broken: BrokenConnector[] = [];
  /** the broken connectors the notices show, as text */
  private problemsShown = '';
  private list: Connection[] = [];
  private rows = new Rows<Line>(el('tbody'), line => line.c.name, line => this.row(line));
  /** the connection whose Test's result is said above the table, and its message then */
  private said: { name: string; message?: string | null } | null = null;
  /** the accessible name of what opened the editor, which gets the focus back */
  private opener = '';
  /** the connection the editor changes (none: closed, or a new one) */
  private editing: string | null = null;
  private problems = el('div', { cls: 'lps-connector-problems' });
  private message = el('div', { cls: 'lps-message' });
  private editor = el('div', { cls: 'lps-editor' });
}

/** A connection's row: `saidAbove` when the result of its Test is said above the table. */
interface Line {
  c: Connection;
  saidAbove: boolean;
}

/** How a connection's Test went, said above the table, where a screen reader says it too
 * (`announced`): its row leaves it out meanwhile, so it is said once. */
function testResult(c: Connection): HTMLElement {
  const message = c.status_message ? `: ${labText(c.status_message)}` : '';
  return el(
    'div',
    { cls: c.status === 'connected' ? 'lps-ok' : 'lps-error', attrs: announced(c.status === 'connected') },
    `Test of ${c.name}: `,
    statusBadge(c.status),
    message
  );
}

/** Why a connector does not load, with the fix (its error names the file and line), in the
 * lab's terms: the API says how a field is given in its own. */
function brokenNotice(b: BrokenConnector): HTMLElement {
  return el(
    'div',
    { cls: 'lps-problem lps-connector-problem', attrs: { 'data-connector': b.name, role: 'status' } },
    el('div', {}, el('strong', { text: `Connector ${b.name} does not load` }), `: ${labText(b.message)}`),
    b.fix ? el('div', { cls: 'lps-error-fix', text: `fix: ${labText(b.fix)}` }) : null
  );
}

/** A connection's connector that neither loads nor fails to: its package was uninstalled, or
 * its file removed (which of them provided it is not known any more). */
function missing(name: string): BrokenConnector {
  return {
    name,
    code: 'NotFoundError',
    message: `no connector ${name} is installed (bundled, in the workspace's connectors/ folder, or from a package)`,
    field: 'type',
    fix: `install again the connector package, or restore the connectors/ file, that provided ${name}; or delete this connection`
  };
}
