/**
 * A recipe's versions (`lpstudio versions`), newest first: who made each, when, and the
 * settings it holds; with Restore on each for a role that may build (the REST route's
 * permission, `lpstudio/roles.py`). It is how the lab mends a recipe whose notebook no
 * longer loads, so it asks nothing of the notebook: the Recipes sidebar's row of such a
 * recipe, and its Settings panel (which shows only the error then), open it.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { historyIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { api, latest, RecipeVersion, Restored } from './api';
import { StudioContext } from './context';
import { button, el, errorBox, fill, formatTime, okBox, Rows, scroller } from './dom';
import { recipeLabError } from './fixes';
import { LivePanel } from './panel';

/** Saves and runs make versions meanwhile: the list is asked again this often while shown. */
const REFRESH_MS = 5000;
/** An id as `lpstudio versions` shows it, which `lpstudio restore` takes. */
const SHORT_ID = 12;
/** A parameter's value is shown up to this long (its whole JSON in the row's tooltip). */
const VALUE_SHOWN = 24;

/** A row of the list: the first is marked newest (drawn again when it no longer is). */
type Line = RecipeVersion & { newest: boolean };

/** A version's id as the list shows it. */
function shortId(id: string): string {
  return id.slice(0, SHORT_ID);
}

/** A value as JSON, cut short with `…` past `VALUE_SHOWN` characters. */
function brief(value: unknown): string {
  const said = JSON.stringify(value) ?? String(value);
  return said.length > VALUE_SHOWN ? `${said.slice(0, VALUE_SHOWN - 1)}…` : said;
}

/** The settings a version holds, on one line: each parameter's value, each slot's
 * connection (as `lpstudio versions` names them, with the values too). */
export function settingsSaid(settings: RecipeVersion['settings']): string {
  const parameters = Object.entries(settings.parameters ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const slots = Object.entries(settings.connections ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const said = [parameters.length ? `parameters: ${parameters.map(([k, v]) => `${k}=${brief(v)}`).join(', ')}` : 'no parameter set'];
  if (slots.length) {
    said.push(`connections: ${slots.map(([slot, name]) => `${slot}=${name}`).join(', ')}`);
  }
  return said.join('; ');
}

/** What a Restore does, said before it is done (`Studio.restore`, `_restored_choice`);
 * `tabs`: those showing the notebook now, which it reloads. */
function restoreWarning(recipe: string, version: RecipeVersion, tabs: { open: number; unsaved: number }): Widget {
  const reload = tabs.unsaved
    ? `projects/${recipe} is open with unsaved changes: its tab is reloaded with the restored notebook, and they are lost (Cancel, then save the notebook, keeps them as a version).`
    : tabs.open
      ? 'Its open tab is reloaded with the restored notebook.'
      : null;
  return new Widget({
    node: el(
      'div',
      { cls: 'lps-restore-warning' },
      el('p', {
        text: `Its notebook is written back over projects/${recipe}, and its parameters replace the saved ones (${settingsSaid(version.settings)}).`
      }),
      el('p', {
        text:
          'Each connection slot is bound to the connection the version used: one that uses it now keeps its ' +
          'choice (an automatic one stays automatic), one the automatic choice fills with it becomes automatic again.'
      }),
      el('p', { text: 'The recipe as it is now is kept as a version first: Restore it here to go back.' }),
      reload ? el('p', { cls: tabs.unsaved ? 'lps-warning' : '', text: reload }) : null
    )
  });
}

export class VersionsPanel extends LivePanel {
  constructor(
    private ctx: StudioContext,
    readonly recipe: string
  ) {
    super(ctx, REFRESH_MS);
    this.id = `lpstudio-versions-${recipe.replace(/[^A-Za-z0-9_-]/g, '-')}`;
    this.title.label = `Versions: ${recipe.split('/').pop()}`;
    this.title.icon = historyIcon; // a collapsed tab (200% zoom) shows it, not a blank
    this.title.caption = `Versions of ${recipe}`;
    this.title.closable = true;
    this.addClass('lps-panel');
    this.addClass('lps-versions');
    const heads = ['version', 'made by', 'when', 'settings', ''];
    this.node.append(
      el(
        'div',
        { cls: 'lps-toolbar' },
        el('h2', { text: `Versions of ${recipe}` }),
        button('Refresh', () => this.refresh(true), 'lps-refresh')
      ),
      el(
        'p',
        { cls: 'lps-hint' },
        'Each JupyterLab save of the notebook, settings save, start, run and import makes one (once per distinct content), and a restore lists its version newest again.'
      ),
      this.message,
      this.list,
      scroller(el('table', { cls: 'lps-table' }, el('thead', {}, el('tr', {}, ...heads.map(h => el('th', { text: h })))), this.rows.node))
    );
    void this.refresh();
  }

  /** Shows the versions as they are now; `manual` (Refresh) also clears what the last
   * Restore said. */
  async refresh(manual = false): Promise<void> {
    if (manual) {
      fill(this.message);
    }
    try {
      const versions = await this.fetch(this.recipe);
      if (!versions) {
        return; // a newer refresh is under way
      }
      fill(this.list);
      const none = (): HTMLElement =>
        el('tr', {}, el('td', { cls: 'lps-hint', text: 'No versions yet: one is made when the recipe is saved, started or run.', attrs: { colspan: '5' } }));
      this.rows.show(
        versions.map((v, i) => ({ ...v, newest: i === 0 })),
        none
      );
    } catch (err) {
      fill(this.list, errorBox(await recipeLabError(err, this.recipe, this.ctx.me.can)));
    }
  }

  private row(version: Line): HTMLElement {
    const id = shortId(version.id);
    return el(
      'tr',
      { cls: 'lps-version', attrs: { 'data-version': version.id } },
      el('td', {}, el('code', { text: id, title: version.id }), version.newest ? el('span', { cls: 'lps-chip', text: 'newest' }) : null),
      el('td', { text: version.created_by }),
      el('td', { cls: 'lps-nowrap', text: formatTime(version.created_at), title: version.created_at }),
      el('td', { cls: 'lps-version-settings', text: settingsSaid(version.settings), title: JSON.stringify(version.settings, null, 1) }),
      el(
        'td',
        { cls: 'lps-actions' },
        // Restoring needs build, as the REST route says: an operator sees the list alone.
        this.ctx.me.can.build ? button('Restore', () => this.restore(version), 'lps-restore', `version ${id}`) : null
      )
    );
  }

  /** Asks first, saying what it does; then restores, says so, refreshes the list and
   * reloads the notebook's open tabs. */
  private async restore(version: RecipeVersion): Promise<void> {
    const id = shortId(version.id);
    const answer = await showDialog({
      title: `Restore version ${id} of ${this.recipe} (${version.created_by}, ${formatTime(version.created_at)})?`,
      body: restoreWarning(this.recipe, version, this.ctx.recipeTabs(this.recipe)),
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Restore' })]
    });
    if (!answer.button.accept) {
      return;
    }
    fill(this.message);
    let restored: Restored;
    try {
      restored = await api.restore(this.recipe, version.id);
    } catch (err) {
      fill(this.message, errorBox(await recipeLabError(err, this.recipe, this.ctx.me.can)));
      return;
    }
    const kept = restored.kept && restored.kept !== restored.id ? ` As it was, it is version ${shortId(restored.kept)}: Restore it to go back.` : '';
    fill(this.message, okBox(`Restored ${restored.recipe} to version ${id}.${kept}`));
    await this.ctx.reloadRecipe(this.recipe).catch(err =>
      this.message.append(errorBox(`its open tab could not be reloaded (${String(err)}): close it and open the notebook again`))
    );
    this.ctx.notifyChanged(); // the list, its Settings panel and the Recipes sidebar show it
  }

  private fetch = latest(api.versions);
  private message = el('div', { cls: 'lps-message' });
  /** why the list cannot be shown, if it cannot */
  private list = el('div', { cls: 'lps-message' });
  private rows = new Rows<Line>(
    el('tbody'),
    v => v.id,
    v => this.row(v)
  );
}
