import {invalid} from '../common/errors.js'

// One rule for every name that becomes a file name or a runtime volume name: no '/', no '..',
// nothing a shell or mount option would read specially.
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/

export const isName = (text: string) => NAME.test(text)

export function validateName(name: string, what = 'volume name'): string {
  if (!isName(name)) {
    throw invalid(
      `invalid ${what} "${name}"`,
      'use 1-63 letters, digits, "_", "." or "-", starting with a letter or digit',
    )
  }
  return name
}
