"""The one strings module: names that Python itself hands to the pages, in both languages. Class and region names
reach the pages through render.py's filters and context. Every sentence a reader sees is in the templates
(templates/<language>/); the page context holds kinds and numbers."""

LANGUAGES = ("zh-TW", "en")  # zh-TW is the default language: its pages have no suffix
CLASS_NAMES = {
    "en": ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"),
    "zh-TW": ("生氣", "厭惡", "恐懼", "快樂", "難過", "驚訝", "中性"),
}
REGION_NAMES = {
    "en": {"brows": "brows", "eyes": "eyes", "nose": "nose", "mouth": "mouth", "face": "rest of the face",
           "background": "background"},
    "zh-TW": {"brows": "眉毛", "eyes": "眼睛", "nose": "鼻子", "mouth": "嘴巴", "face": "臉部其他區域",
              "background": "背景"},
}
QUESTION_POINTS = {"q1": "2%", "q2": "3%", "q3": "3%", "q4": "2%"}


def page_path(page: str, language: str) -> str:
    """mkdocs-static-i18n's suffix layout: ``q1.md`` for the default language, ``q1.en.md`` for English."""
    return f"{page}.md" if language == LANGUAGES[0] else f"{page}.{language}.md"
