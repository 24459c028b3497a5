import {parseTemplate, renderTemplate} from './go-template.js'

/** How `volume ls` and `snapshot ls` print for a person: names (-q), a Go template (--format) or the table. */
export interface ListingOptions {
  quiet?: boolean
  format?: string
  /** The keys of the listed objects, for --format to check fields against. */
  fields: readonly string[]
  table: () => Promise<string>
}

/** Checks --format before any work is done: a typing error costs nothing. */
export const checkFormat = (options: Pick<ListingOptions, 'format' | 'fields'>) => (options.format === undefined ? undefined : parseTemplate(options.format, options.fields))

/** The text to print; undefined when there is nothing (an empty listing under --format prints no line). */
export async function listingText(items: ReadonlyArray<{name: string}>, options: ListingOptions): Promise<string | undefined> {
  if (options.quiet) return items.length > 0 ? items.map((item) => item.name).join('\n') : undefined
  const template = checkFormat(options)
  if (!template) return options.table()
  return items.length > 0 || template.table ? renderTemplate(template, items) : undefined
}
