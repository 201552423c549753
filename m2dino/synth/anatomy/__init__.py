"""One parametric anatomy model per organ of the registry (``Task.organ``); tasks of an organ share its model.

Each model is ``organ(rng, **variant) -> Scene``; the variant (e.g. a class or an orientation) is what a task's
label is made from, so the label always follows visible evidence.
"""
from __future__ import annotations

from m2dino.synth.anatomy.abdominal import abdomen, heart, liver, ovary, uterus
from m2dino.synth.anatomy.obstetric import (cervix, femur, fetal_abdomen, fetal_head, fetal_heart, fetal_planes,
                                            fetal_sacrum)
from m2dino.synth.anatomy.superficial import breast, carotid, lung, spine, thyroid

ORGANS = {
    "breast": breast, "thyroid": thyroid, "carotid": carotid, "lung": lung, "spine": spine,
    "cervix": cervix, "fetal_head": fetal_head, "fetal_abdomen": fetal_abdomen, "fetal_heart": fetal_heart,
    "femur": femur, "fetal_sacrum": fetal_sacrum, "fetal_planes": fetal_planes,
    "heart": heart, "liver": liver, "abdomen": abdomen, "ovary": ovary, "uterus": uterus,
}
