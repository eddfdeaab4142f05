"""Explore a face: found, measured with 478 landmarks, and aligned to the models' crop."""

import pandas as pd
import streamlit as st

from core.errors import InputError
from core.faces import draw_faces, draw_landmarks, prepare_face
from core.models.summary import predict_expression
from dashboard.charts import probabilities_chart
from dashboard.export import download_chart, download_image, download_table
from dashboard.widgets import face_analyzer, face_input, pick_model, show_error

CROP_DISPLAY_SCALE = 6  # the 48 px crop, shown large enough to see the landmarks

st.title("Explore a face")
chosen = face_input()
if chosen is None:
    st.info("Choose a dataset face, upload a photo or take a webcam still to begin.")
    st.stop()

try:
    with st.spinner("Finding the face…"):
        result = prepare_face(chosen.image, face_analyzer(), aligned=chosen.aligned)
except InputError as error:
    show_error(error)
    st.stop()

found = 1 + len(result.others) if result.face is not None else 0
if chosen.aligned:
    st.caption(f"{chosen.caption}. A pre-aligned dataset crop: used as it is, without face detection.")
elif result.others:
    st.warning(
        f"{found} faces were found; the largest (green) is used. "
        "Crop the photo to one face to analyse another.",
        icon=":material/groups:",
    )
else:
    st.caption(f"{chosen.caption}. One face found (detector confidence {result.face.score:.2f}).")

picture, crop = st.columns([3, 2])
with picture:
    st.subheader("The picture")
    annotated = draw_faces(result.image, [result.face, *result.others]) if result.face else result.image
    st.image(annotated, width="stretch")
    download_image(annotated, "face-landmarks", key="annotated")
with crop:
    st.subheader("What the model receives")
    shown = draw_landmarks(result.crop.image, result.crop.landmarks, scale=CROP_DISPLAY_SCALE)
    st.image(shown, width="stretch")
    st.caption(
        f"{result.crop.image.shape[1]}x{result.crop.image.shape[0]} grayscale crop, aligned on the eyes"
        + (" with the 478 landmarks drawn." if result.crop.landmarks is not None else ".")
    )
    download_image(result.crop.image, "aligned-crop", key="crop")

st.subheader("What the model says")
picked = pick_model()
if picked is not None:
    model_name, model = picked
    chart = probabilities_chart(
        predict_expression(model, result.crop.image), f"Expression probabilities: {model_name}"
    )
    st.altair_chart(chart, width="stretch")
    st.caption(
        "The network's softmax output for this crop: how sure the model is, not a measured emotion. "
        "The Models page says how accurate it is."
    )
    download_chart(chart, f"probabilities-{model_name}", key="probabilities")

if result.face is not None and result.face.landmarks is not None:
    with st.expander("The 478 landmarks as a table"):
        table = pd.DataFrame(
            {
                "landmark": range(len(result.face.landmarks)),
                "x": result.face.landmarks[:, 0].round(2),
                "y": result.face.landmarks[:, 1].round(2),
                "crop_x": result.crop.landmarks[:, 0].round(3),
                "crop_y": result.crop.landmarks[:, 1].round(3),
            }
        )
        st.dataframe(table, hide_index=True, height=240)
        download_table(table, "landmarks", key="landmarks")
