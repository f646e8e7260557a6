import { AppError, UnsupportedMediaType, Unprocessable } from '../errors'

export const SUPPORTED_FORMATS_MESSAGE = 'Supported formats: JPEG, PNG, GIF, WebP, AVIF, BMP'

export const unsupportedFormat = () => new UnsupportedMediaType(SUPPORTED_FORMATS_MESSAGE, 'unsupported_format')

/**
 * Over MAX_IMAGE_PIXELS. An animation's frames are all decoded and held, so they all count, and
 * the message says so: "The image has 108 megapixels" read as a bug to someone sending 600×600.
 */
export const imageTooLarge = (pixels: number, maxPixels: number, animation?: { width: number; height: number; frames: number }) =>
  new Unprocessable(
    animation
      ? `The animation is ${animation.width}×${animation.height} × ${animation.frames} frames: ${formatMegapixels(pixels)} megapixels; the limit is ${formatMegapixels(maxPixels)} megapixels across all frames`
      : `The image has ${formatMegapixels(pixels)} megapixels; the limit is ${formatMegapixels(maxPixels)}`,
    'image_too_large',
  )

export const tooManyFrames = (frames: number, maxFrames: number) =>
  new Unprocessable(`The image has ${frames} frames; the limit is ${maxFrames}`, 'too_many_frames')

export const invalidImage = (detail = 'The file is corrupt or truncated and could not be decoded') =>
  new Unprocessable(detail, 'invalid_image')

export const metadataNotRemovable = () =>
  new Unprocessable(
    'The AVIF carries Exif or XMP metadata that cannot be removed without storing a file bigger than the upload; remove the metadata and upload it again',
    'metadata_not_removable',
  )

const formatMegapixels = (pixels: number) => {
  const mp = pixels / 1e6
  return mp >= 10 ? mp.toFixed(0) : mp.toPrecision(2)
}

/**
 * What a failure while reading the upload's bytes means for the client. libvips reports a
 * header that claims too many pixels in words, not in a code; everything else the decoder
 * throws is the file's fault (corrupt, truncated, lying header). AppErrors pass untouched.
 */
export function asDecodeFailure(error: unknown, maxPixels: number): AppError {
  if (error instanceof AppError) return error
  const message = error instanceof Error ? error.message : String(error)
  if (/exceeds pixel limit/i.test(message)) {
    return new Unprocessable(`The image has more than ${formatMegapixels(maxPixels)} megapixels`, 'image_too_large')
  }
  return invalidImage()
}
